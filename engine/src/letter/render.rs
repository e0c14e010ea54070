//! Laying a letter out as PDF with typst, in process. The typst "world" here holds only what
//! a letter needs: the template compiled into the binary, the fonts compiled into the binary
//! (Noto Sans and Noto Naskh Arabic, OFL, `assets/fonts/`), the signed content and its QR
//! code. Nothing is read from the machine, so the same content gives the same bytes anywhere.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Timelike, Utc};
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use super::file::SignedLetter;

const TEMPLATE: &str = include_str!("letter.typ");

static FONT_FILES: [&[u8]; 4] = [
    include_bytes!("../../../assets/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../../assets/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../../assets/fonts/NotoNaskhArabic-Regular.ttf"),
    include_bytes!("../../../assets/fonts/NotoNaskhArabic-Bold.ttf"),
];

struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let fonts: Vec<Font> = FONT_FILES.iter().flat_map(|b| Font::iter(Bytes::new(*b))).collect();
    Shared {
        library: LazyHash::new(Library::builder().build()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

fn file_id(path: &str) -> FileId {
    // The paths are constants of this file, so they are always valid.
    let vpath = VirtualPath::new(path).unwrap_or_else(|_| unreachable!("virtual path {path}"));
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

struct LetterWorld {
    main: Source,
    content: Bytes,
    qr: Bytes,
    today: DateTime<Utc>,
}

impl World for LetterWorld {
    fn library(&self) -> &LazyHash<Library> {
        &SHARED.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &SHARED.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::NotSource) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == file_id("/corridor-letter.json") {
            Ok(self.content.clone())
        } else if id == file_id("/qr.svg") {
            Ok(self.qr.clone())
        } else if id == self.main.id() {
            Ok(Bytes::from_string(TEMPLATE))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        SHARED.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        let t = self.today;
        Datetime::from_ymd(t.year(), t.month() as u8, t.day() as u8)
    }
}

/// Why a letter could not be laid out: a fault of this build (the template or the fonts),
/// never of the letter's data, which reaches the template as JSON only.
#[derive(Debug, thiserror::Error)]
#[error("the decision letter could not be laid out: {0}")]
pub struct RenderError(String);

/// The QR code of `url`, as SVG.
fn qr_svg(url: &str) -> Result<String, RenderError> {
    let code = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| RenderError(format!("QR code: {e}")))?;
    Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(false).build())
}

/// The letter's PDF: a pure function of the signed letter (same input, same bytes).
pub fn render(letter: &SignedLetter) -> Result<Vec<u8>, RenderError> {
    let decided_at = DateTime::parse_from_rfc3339(&letter.content.decided_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| RenderError(format!("decision time: {e}")))?;
    let world = LetterWorld {
        main: Source::new(file_id("/letter.typ"), TEMPLATE.to_string()),
        content: Bytes::new(letter.attachment().into_bytes()),
        qr: Bytes::new(qr_svg(&letter.content.verify_url)?.into_bytes()),
        today: decided_at,
    };
    let document: PagedDocument = typst::compile(&world)
        .output
        .map_err(|errors| RenderError(errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")))?;
    let stamp = Datetime::from_ymd_hms(
        decided_at.year(),
        decided_at.month() as u8,
        decided_at.day() as u8,
        decided_at.hour() as u8,
        decided_at.minute() as u8,
        decided_at.second() as u8,
    )
    .ok_or_else(|| RenderError("decision time out of range".into()))?;
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(letter.content.number.clone()),
        creator: Smart::Custom(Some("Corridor".into())),
        timestamp: Some(typst_pdf::Timestamp::new_utc(stamp)),
        ..Default::default()
    };
    typst_pdf::pdf(&document, &options)
        .map_err(|errors| RenderError(errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")))
}
