//! The route table: every route is declared once, with its method, path and who may call
//! it, and registered from that same declaration, so no route exists without an access
//! rule. The guard (`auth::guard`) applies the rule before the handler runs; handlers do
//! not check permissions themselves.

use std::collections::HashMap;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::auth::policy::Need;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, assets, sign-in pages.
    Public,
    /// Anyone holding the unguessable token in the path (setup links, unsubscribe links,
    /// event-source URLs); the handler checks the token.
    Token,
    /// Anyone presenting a channel token as `Authorization: Bearer`; the handler checks
    /// it and refuses a missing or wrong one with 401, as seed 002 answers.
    Bearer,
    /// A provider's webhook (Twilio, Meta), signed with the channel's own credentials;
    /// the handler checks the signature and refuses a missing or wrong one with 403.
    Signed,
    /// The JSON API: an API key or a signed-in session, with this need.
    Api(Need),
    /// A UI page: a signed-in session, with this need.
    Page(Need),
}

impl Access {
    fn label(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Token => "token".into(),
            Access::Bearer => "bearer".into(),
            Access::Signed => "signed".into(),
            Access::Api(need) => format!("api:{}", need_label(need)),
            Access::Page(need) => format!("page:{}", need_label(need)),
        }
    }
}

fn need_label(need: Need) -> &'static str {
    match need {
        Need::Read => "read",
        Need::Send => "send",
        Need::Manage => "manage",
    }
}

/// One route as declared.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: String,
    pub access: Access,
    /// Whether a call may change state; cookie-authenticated calls that do need a CSRF
    /// proof. POSTs that only compute (previews) say `false`.
    pub changes_state: bool,
}

/// Path prefixes of the Sendkit-shaped family, whose errors use the
/// `{success: false, error}` envelope.
const ENVELOPED: &[&str] = &["/v1/", "/api/v1/webhooks"];

impl RouteSpec {
    /// Whether this route's errors use the `{success: false, error}` envelope.
    pub fn enveloped(&self) -> bool {
        ENVELOPED.iter().any(|p| self.path.starts_with(p))
    }

    /// The spec as the `herald routes` command prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method.as_str(),
            "path": self.path,
            "access": self.access.label(),
            "changesState": self.changes_state,
        })
    }
}

/// One declaring method per HTTP verb, all through [`Routes::add`].
macro_rules! verbs {
    ($($(#[$doc:meta])* $name:ident => $method:ident, $changes:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name<F, Args>(&mut self, path: &str, access: Access, handler: F) -> &mut Self
            where
                F: Handler<Args>,
                Args: FromRequest + 'static,
                F::Output: Responder + 'static,
            {
                self.add(Method::$method, path, access, $changes, handler)
            }
        )*
    };
}

/// Declares routes: registers each on the actix config (when there is one) and records
/// its spec.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    specs: Vec<RouteSpec>,
}

impl<'a> Routes<'a> {
    /// Declarations that also register on `cfg`.
    pub fn registering(cfg: &'a mut web::ServiceConfig) -> Self {
        Routes {
            cfg: Some(cfg),
            specs: Vec::new(),
        }
    }

    /// Declarations that are only recorded (to build the table).
    pub fn recording() -> Self {
        Routes {
            cfg: None,
            specs: Vec::new(),
        }
    }

    /// The declared specs, in declaration order.
    pub fn into_specs(self) -> Vec<RouteSpec> {
        self.specs
    }

    fn add<F, Args>(
        &mut self,
        method: Method,
        path: &str,
        access: Access,
        changes_state: bool,
        handler: F,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.route(path, web::method(method.clone()).to(handler));
        }
        self.specs.push(RouteSpec {
            method,
            path: path.to_string(),
            access,
            changes_state,
        });
        self
    }

    verbs! {
        /// A GET route (never changes state).
        get => GET, false;
        /// A POST route that changes state.
        post => POST, true;
        /// A POST route that only computes an answer (a preview) and changes nothing.
        post_query => POST, false;
        /// A PUT route.
        put => PUT, true;
        /// A PATCH route.
        patch => PATCH, true;
        /// A DELETE route.
        delete => DELETE, true;
        /// An OPTIONS route: a CORS preflight, which only answers headers.
        options => OPTIONS, false;
    }
}

/// The table the guard looks requests up in: fixed paths by hash, patterns in
/// declaration order (the order the router itself tries them).
pub struct RouteTable {
    specs: Vec<RouteSpec>,
    fixed: HashMap<(Method, String), usize>,
    patterns: Vec<(ResourceDef, usize)>,
}

impl RouteTable {
    /// Builds the table from declarations.
    pub fn new(specs: Vec<RouteSpec>) -> Self {
        let mut fixed = HashMap::new();
        let mut patterns = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            if spec.path.contains('{') {
                patterns.push((ResourceDef::new(spec.path.as_str()), i));
            } else {
                fixed
                    .entry((spec.method.clone(), spec.path.clone()))
                    .or_insert(i);
            }
        }
        RouteTable {
            specs,
            fixed,
            patterns,
        }
    }

    /// Every declared route.
    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// The route a request goes to, as the router would pick it. A fixed path wins only
    /// if no pattern declared before it matches, as in actix's own router.
    pub fn find(&self, method: &Method, path: &str) -> Option<&RouteSpec> {
        let fixed = self.fixed.get(&(method.clone(), path.to_string())).copied();
        let pattern = self
            .patterns
            .iter()
            .take_while(|(_, i)| fixed.is_none_or(|f| *i < f))
            .find(|(def, i)| self.specs[*i].method == method && def.is_match(path))
            .map(|(_, i)| *i);
        pattern.or(fixed).map(|i| &self.specs[i])
    }
}
