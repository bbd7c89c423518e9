//! `GET /stats`: a thin handler over [`crate::stats`].

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::access::Access;
use super::error::{ApiError, ErrorBody};

/// The city's figures: objects per layer with the share numbered, and the shelters by status,
/// legal type and step-free access with their total capacity — of what the caller may see.
/// Staff (the roles of `access.audit`) also get the detail: shelters by district, objects per
/// layer by status; the roles that read the fibre layers the network's figures (metres laid
/// by status and deployment, nodes and served objects connected, redundancy); the roles that
/// handle incidents, the reports and incidents by state, category, kind and district with the
/// median time to resolve.
#[utoipa::path(get, path = "/stats", tag = "service",
    responses(
        (status = 200, description = "The figures", body = crate::stats::Stats),
        (status = 401, description = "The token is not valid", body = ErrorBody),
    ))]
pub async fn stats(
    State(app): State<AppState>,
    access: Access,
) -> Result<Json<crate::stats::Stats>, ApiError> {
    let visible = access.view.visible();
    let detail = access.view.check_audit().is_ok();
    let registry = app.registry.clone();
    let fibre = {
        let twin = app.registry.twin();
        [crate::fibre::graph::NODES, crate::fibre::graph::SPANS]
            .iter()
            .all(|n| access.view.can_read_name(twin.layers(), n))
    }
    .then(|| app.fibre.clone());
    let incidents = access.view.handles_incidents().then(|| app.reports.all());
    let districts = app.districts.clone();
    tokio::task::spawn_blocking(move || {
        let twin = registry.twin();
        let mut s = crate::stats::stats(&twin, &visible, detail);
        if let Some(service) = fibre {
            let g = service.graph(&twin, &visible);
            // A core that names no node leaves the figures out (the traces say why).
            s.fibre = service
                .core(&twin, &g)
                .ok()
                .map(|core| crate::fibre::figures(&twin, &g, &core));
        }
        s.incidents = incidents.map(|all| {
            let seen = all.iter().filter(|i| i.seen_by(&twin, &visible));
            crate::reports::IncidentStats::of(
                seen,
                |i| twin.layers().def(i.layer).name.clone(),
                |i| crate::reports::district_of(&twin, &districts, i),
            )
        });
        s
    })
    .await
    .map(Json)
    .map_err(|e| ApiError::internal(format!("statistics failed: {e}")))
}
