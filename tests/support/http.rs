//! Pages over HTTP as a browser sends them: a client that keeps cookies and does not follow
//! redirects, form tokens read from the page, URL-encoded and multipart posts.

/// A page as a test sees it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The form token in this page (the first `name="csrf"` field).
    pub fn csrf(&self) -> Option<String> {
        csrf_in(&self.body)
    }

    /// The value of the cookie `name` that this answer sets.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().ok())
            .find_map(|c| c.strip_prefix(prefix.as_str()))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)?;
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest.split('"').next().map(str::to_string)
}

/// The value of `<input ... name="NAME" ... value="...">` (first match).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!(r#"name="{name}""#);
    let at = html.find(&needle)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find(r#"value=""#)?;
    tag[v + 7..].split('"').next().map(str::to_string)
}

/// `application/x-www-form-urlencoded`, as a browser sends it.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_string(),
        }
    }

    /// A client whose connections come from `address` (any of 127.0.0.0/8 on Linux), so the
    /// server sees another client address.
    pub fn from_address(base: &str, address: std::net::IpAddr) -> Http {
        Http {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(address)
                .build()
                .expect("client"),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self.client.get(format!("{}{}", self.base, path)).send().await.expect("GET");
        Self::page(r).await
    }

    async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        Page { status, headers, body }
    }

    /// POST a form exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)], extra_headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields));
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        Self::page(req.send().await.expect("POST")).await
    }

    /// Open `form_page`, take its token, and POST `fields` (plus the token) to `action`, as a
    /// browser on our own origin would.
    pub async fn post_form(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        let token =
            page.csrf().unwrap_or_else(|| panic!("no csrf token on {form_page} ({}): {}", page.status, page.body));
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let origin = self.base.clone();
        self.post_raw(action, &all, &[("origin", origin.as_str()), ("sec-fetch-site", "same-origin")]).await
    }

    /// Upload one document through the documents page's form.
    pub async fn upload(&self, reference: &str, kind: &str, filename: &str, bytes: Vec<u8>) -> Page {
        let path = format!("/applications/{reference}/documents");
        let page = self.get(&path).await;
        let token = page.csrf().expect("csrf on documents page");
        let form = reqwest::multipart::Form::new()
            .text("csrf", token)
            .text("kind", kind.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("origin", self.base.clone())
            .multipart(form)
            .send()
            .await
            .expect("upload");
        Self::page(r).await
    }
}
