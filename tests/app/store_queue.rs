//! The review queue in the engine over each store, SQLite and PostgreSQL alike: the stages a
//! role works, one deadline order merged across stages, keyset pages that neither skip nor
//! repeat, filters and search, claim/release/reassign as audit events with version checks,
//! the actions a case offers (four-eyes known beforehand), and the decision of a closed case.

use crate::support::{self, Backend, TestApp};
use chrono::{Duration, TimeZone, Utc};
use corridor_engine::actions::BlockReason;
use corridor_engine::error::EngineError;
use corridor_engine::queue::{Assigned, QueueQuery, Urgency};
use corridor_engine::store::{Reference, User, UserId};
use corridor_engine::transition::FourEyesBlock;
use corridor_engine::transition::TransitionRequest;

const WF: &str = "it-business-visa";

async fn take(app: &TestApp, who: &User, reference: &Reference, action: &str) {
    let actor = app.actor(who);
    let version = app.engine.application(&actor, reference).await.expect("read").record.version;
    let needs_reason = matches!(action, "reject" | "refuse_visa" | "deny_clearance");
    let request = TransitionRequest {
        reason_code: needs_reason.then(|| "information_inconsistent".to_string()),
        action: action.into(),
        expected_version: version,
        comment: (action == "request_information").then(|| "Which host?".to_string()),
        reason: needs_reason.then(|| "Not eligible".to_string()),
        fields: None,
    };
    app.engine.transition(&actor, reference, &request).await.unwrap_or_else(|e| panic!("{action}: {e}"));
}

async fn submitted(app: &TestApp, firm: &User) -> Reference {
    let reference = app.complete_draft(firm, WF).await;
    take(app, firm, &reference, "submit").await;
    reference
}

fn refs(page: &corridor_engine::queue::QueuePage) -> Vec<Reference> {
    page.items.iter().map(|i| i.view.record.reference.clone()).collect()
}

async fn queue_scenarios(backend: Backend) {
    let app = support::spawn(backend).await;
    let firm = app.user("a@indus.example", "applicant", "Indus").await;
    let firm2 = app.user("b@ravi.example", "applicant", "Ravi").await;
    let fatima = app.user("fatima@moci.example", "ministry_reviewer", "MOCI").await;
    let omar = app.user("omar@moci.example", "ministry_reviewer", "MOCI").await;
    let security = app.user("khalid@sec.example", "security_officer", "Security").await;
    let engine = &app.engine;
    let (f, o, s) = (app.actor(&fatima), app.actor(&omar), app.actor(&security));

    // The stages a role works come from the workflows.
    let stages: Vec<(String, String)> = engine.stages(&f).into_iter().map(|st| (st.workflow_id, st.state)).collect();
    assert!(
        stages.contains(&(WF.into(), "ministry_review".into()))
            && stages.contains(&(WF.into(), "ministry_approval".into())),
        "{stages:?}"
    );
    assert!(stages.contains(&("market-access".into(), "eligibility_check".into())), "{stages:?}");
    assert!(
        !stages.iter().any(|(_, st)| st == "security_clearance" || st == "draft" || st == "more_information"),
        "{stages:?}"
    );
    assert!(engine.stages(&app.actor(&firm)).is_empty(), "a firm works no stage");

    // Seven cases, a day apart; two of them moved on to the approval stage.
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).single().expect("date");
    let mut made = Vec::new();
    for i in 0..7 {
        app.clock.set(start + Duration::days(i));
        let owner = if i == 3 { &firm2 } else { &firm };
        made.push(submitted(&app, owner).await);
    }
    app.clock.set(start + Duration::days(8));
    take(&app, &fatima, &made[5], "verify_firm").await;
    take(&app, &fatima, &made[6], "verify_firm").await;
    let draft = app.complete_draft(&firm, WF).await;

    // One order across both stages: by deadline, then id; pages of 2 that neither skip nor repeat.
    let mut seen = Vec::new();
    let mut after = None;
    let mut deadlines = Vec::new();
    for _ in 0..10 {
        let page = engine.queue(&f, &QueueQuery { after, limit: 2, ..Default::default() }).await.expect("queue");
        deadlines.extend(page.items.iter().map(|i| (i.view.record.deadline_at, i.view.record.id)));
        seen.extend(refs(&page));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let mut sorted = deadlines.clone();
    sorted.sort();
    assert_eq!(deadlines, sorted, "deadline order");
    let mut expected = made.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every case once, and no draft");
    assert!(!seen.contains(&draft));
    // The re-entered approval stage has a later deadline than the first cases' review.
    assert_eq!(seen[0], made[0]);

    // Urgency on the calendar: by day 8 the first cases are overdue.
    let first = engine.queue(&f, &QueueQuery { limit: 1, ..Default::default() }).await.expect("queue");
    assert_eq!(first.items[0].urgency, Urgency::Overdue);
    assert!(first.items[0].organisation.as_ref().is_some_and(|o| o.name == "Indus"));

    // Filters: stage, firm, search by reference and by name; an unknown reference finds nothing.
    let approval = engine
        .queue(&f, &QueueQuery { state: Some("ministry_approval".into()), limit: 10, ..Default::default() })
        .await
        .expect("q");
    let mut want = vec![made[5].clone(), made[6].clone()];
    want.sort();
    let mut have = refs(&approval);
    have.sort();
    assert_eq!(have, want);
    let ravi = engine
        .queue(&f, &QueueQuery { organisation_id: Some(firm2.organisation_id), limit: 10, ..Default::default() })
        .await
        .expect("q");
    assert_eq!(refs(&ravi), vec![made[3].clone()]);
    let by_ref = engine
        .queue(&f, &QueueQuery { search: Some(made[2].as_str().to_lowercase()), limit: 10, ..Default::default() })
        .await
        .expect("q");
    assert_eq!(refs(&by_ref), vec![made[2].clone()]);
    let by_name = engine
        .queue(&f, &QueueQuery { search: Some("yesha kh".into()), limit: 10, ..Default::default() })
        .await
        .expect("q");
    assert_eq!(by_name.items.len(), 7, "the example name is on every case");
    let nothing = engine
        .queue(&f, &QueueQuery { search: Some("QA-BV-2026-999999-Z".into()), limit: 10, ..Default::default() })
        .await
        .expect("q");
    assert!(nothing.items.is_empty());
    // The security officer's stage is empty.
    assert!(engine.queue(&s, &QueueQuery { limit: 10, ..Default::default() }).await.expect("q").items.is_empty());

    // Claim, with the version read; a second claim on the old version is a conflict.
    let r = &made[1];
    let v = engine.application(&f, r).await.expect("read").record.version;
    let claimed = engine.claim(&f, r, v).await.expect("claim");
    assert_eq!(claimed.record.assigned_to, Some(fatima.id));
    assert!(matches!(engine.claim(&o, r, v).await, Err(EngineError::StaleVersion { .. })));
    assert!(
        matches!(engine.claim(&o, r, claimed.record.version).await, Err(EngineError::ActionNotOpen { .. })),
        "held by someone else"
    );
    assert_eq!(
        engine.claim(&f, r, claimed.record.version).await.expect("again").record.version,
        claimed.record.version,
        "claiming one's own case again changes nothing"
    );
    assert!(
        matches!(engine.claim(&s, r, claimed.record.version).await, Err(EngineError::NotFound(_))),
        "not a stage of security, nor one it may read: not found"
    );
    let mine =
        engine.queue(&f, &QueueQuery { assigned: Assigned::Me, limit: 10, ..Default::default() }).await.expect("q");
    assert_eq!(refs(&mine), vec![r.clone()]);
    assert_eq!(mine.items[0].assignee.as_ref().map(|u| u.id), Some(fatima.id));
    assert!(
        engine
            .queue(&o, &QueueQuery { assigned: Assigned::Me, limit: 10, ..Default::default() })
            .await
            .expect("q")
            .items
            .is_empty()
    );
    // Only the holder releases; reassigning goes to someone of a role that works the stage.
    assert!(matches!(engine.release(&o, r, claimed.record.version).await, Err(EngineError::ActionNotOpen { .. })));
    let candidates: Vec<UserId> = engine.assignees(&claimed).await.expect("assignees").iter().map(|u| u.id).collect();
    assert_eq!(candidates, vec![omar.id], "others of the role, not the holder, not other roles");
    assert!(matches!(
        engine.reassign(&f, r, claimed.record.version, security.id, None).await,
        Err(EngineError::Unprocessable { .. })
    ));
    let moved =
        engine.reassign(&f, r, claimed.record.version, omar.id, Some("  over to you  ")).await.expect("reassign");
    assert_eq!(moved.record.assigned_to, Some(omar.id));
    let released = engine.release(&o, r, moved.record.version).await.expect("release");
    assert_eq!(released.record.assigned_to, None);
    let history = engine.history(&f, r).await.expect("history");
    let tail: Vec<(&str, Option<&str>)> =
        history.iter().rev().take(3).rev().map(|e| (e.action.as_str(), e.comment.as_deref())).collect();
    assert_eq!(tail, vec![("claim", None), ("reassign", Some("over to you")), ("release", None)]);
    assert_eq!(history.iter().rev().nth(1).map(|e| e.data["assigned_to"].as_i64()), Some(Some(omar.id.get())));
    assert!(engine.verify_audit(Some(r.as_str())).await.expect("verify").is_ok());
    // Moving on clears the hold.
    engine.claim(&f, r, released.record.version).await.expect("claim");
    take(&app, &fatima, r, "verify_firm").await;
    assert_eq!(engine.application(&f, r).await.expect("read").record.assigned_to, None);

    // The actions a case offers: the role's own, four-eyes known before the click.
    let view = engine.application(&f, r).await.expect("read");
    let (hist, docs) = (engine.history(&f, r).await.expect("h"), app.store.documents(view.record.id).await.expect("d"));
    let for_fatima = engine.available_actions(&f, &view, &hist, &docs).expect("actions");
    assert!(!for_fatima.takeable("approve"), "four-eyes: not offered as takeable");
    assert_eq!(for_fatima.blocked("approve"), Some(&BlockReason::FourEyes { rule: FourEyesBlock::PreviousApproval }));
    assert_eq!(for_fatima.blocked.len(), 1, "only the approval is barred");
    let for_omar = engine.available_actions(&o, &view, &hist, &docs).expect("actions");
    assert!(for_omar.blocked.is_empty() && for_omar.takeable("approve"));
    let for_security = engine.available_actions(&s, &view, &hist, &docs).expect("actions");
    assert!(for_security.takeable.is_empty() && for_security.blocked.is_empty(), "no action of other roles");

    // A decision letter exists only once a decision closed the case.
    assert!(matches!(engine.decision(&f, r).await, Err(EngineError::NotFound(_))));
    take(&app, &omar, &made[0], "reject").await;
    let decision = engine.decision(&f, &made[0]).await.expect("decision");
    assert_eq!((decision.outcome.as_str(), decision.event.reason.as_deref()), ("refused", Some("Not eligible")));
    assert_eq!(decision.authority.map(|a| a.name), Some("MOCI".to_string()));
}

#[tokio::test]
async fn the_queue_on_sqlite() {
    queue_scenarios(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_queue_on_postgres() {
    queue_scenarios(Backend::Postgres).await;
}
