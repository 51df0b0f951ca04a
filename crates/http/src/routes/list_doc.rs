//! The OpenAPI description of each list's query. Every list pages with `limit` and `cursor`;
//! some also filter (`status`, `priority`, `agent_id`, `team_id`, or the same as the JSON
//! object `filter`), sort or export. [`ListParams`](super::paging::ListParams) parses them
//! all and each list refuses what it does not offer, so each list documents exactly what it
//! offers, with the values it accepts.

use godel_queue::MAX_NAME_LEN;
use godel_types::{Priority, SessionState, TaskStatus};
use serde::Serialize;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, Type,
};
use utoipa::openapi::{ContentBuilder, RefOr, Required};

use super::paging::MAX_LIMIT;

/// What an agent or capability name may hold (`godel_queue`'s name rule), as a JSON Schema
/// pattern; 1 to [`MAX_NAME_LEN`] bytes.
const NAME_PATTERN: &str = "^[A-Za-z0-9._:@/-]+$";

/// What one list offers beyond paging.
#[derive(Default)]
struct Offer {
    /// The statuses `status` may name, when the list filters by status.
    statuses: Option<Vec<String>>,
    /// Filters by `priority`.
    priority: bool,
    /// Filters by `agent_id`.
    agent: bool,
    /// Filters by `team_id`.
    team: bool,
    /// Sorts by `created_at` either way.
    sort: bool,
    /// Exports with `format=ndjson`.
    format: bool,
}

/// The JSON (serde) names of `values`.
fn names<T: Serialize>(values: &[T]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn string_enum(values: &[String]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().cloned()))
        .into()
}

fn priority() -> Schema {
    string_enum(&names(&Priority::ALL))
}

/// An agent or capability name.
pub(crate) fn name() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(NAME_PATTERN))
        .into()
}

fn uuid() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

fn query(name: &str, description: &str, schema: Schema) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
}

impl Offer {
    fn filters(&self) -> bool {
        self.statuses.is_some() || self.priority || self.agent || self.team
    }

    /// The `filter` object: the filters as JSON, e.g. `{"status":["pending"]}`.
    fn filter_object(&self) -> Schema {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        if let Some(statuses) = &self.statuses {
            let one = string_enum(statuses);
            let many = ArrayBuilder::new().items(RefOr::T(string_enum(statuses)));
            object = object.property("status", OneOfBuilder::new().item(one).item(many));
        }
        if self.priority {
            object = object.property("priority", priority());
        }
        if self.agent {
            object = object.property("agent_id", name());
        }
        if self.team {
            object = object.property("team_id", uuid());
        }
        object.into()
    }

    fn parameters(&self) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT as u64))
            .into();
        let mut params = vec![
            query("limit", "Items per page (1 to 100, default 20).", limit),
            query(
                "cursor",
                "The `next_cursor` of the previous page of this list (opaque; any other value is refused).",
                ObjectBuilder::new().schema_type(Type::String).into(),
            ),
        ];
        if self.sort {
            let sort = string_enum(&["created_at".to_owned(), "-created_at".to_owned()]);
            params.push(query(
                "sort",
                "Order: `created_at` (default) or `-created_at` (newest first).",
                sort,
            ));
        }
        if let Some(statuses) = &self.statuses {
            let list = ArrayBuilder::new()
                .items(RefOr::T(string_enum(statuses)))
                .into();
            params.push(
                query("status", "Only these statuses (comma-separated).", list)
                    .style(Some(ParameterStyle::Form))
                    .explode(Some(false)),
            );
        }
        if self.priority {
            params.push(query("priority", "Only this priority.", priority()));
        }
        if self.agent {
            params.push(query("agent_id", "Only this agent's.", name()));
        }
        if self.team {
            params.push(query("team_id", "Only this team's.", uuid()));
        }
        if self.filters() {
            params.push(
                ParameterBuilder::new()
                    .name("filter")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(
                        "The same filters as one JSON object; the parameters above win over it.",
                    ))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(self.filter_object()))
                            .build(),
                    ),
            );
        }
        if self.format {
            let format = string_enum(&["json".to_owned(), "ndjson".to_owned()]);
            params.push(query(
                "format",
                "`ndjson` exports every matching item as JSON lines (`application/x-ndjson`).",
                format,
            ));
        }
        params.into_iter().map(ParameterBuilder::build).collect()
    }
}

/// Declares a documentation-only type whose parameters are `offer`'s.
macro_rules! list_query {
    ($(#[$doc:meta])* $name:ident, $offer:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoParams for $name {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                $offer.parameters()
            }
        }
    };
}

list_query!(
    /// The query of the lists that only page (`/agents`, `/instances`, `/teams`,
    /// `/api-keys`, `/audit`).
    PageQuery,
    Offer::default()
);
list_query!(
    /// The query of `GET /tasks`.
    TasksQuery,
    Offer {
        statuses: Some(names(&TaskStatus::ALL)),
        priority: true,
        agent: true,
        team: true,
        sort: true,
        format: false,
    }
);
list_query!(
    /// The query of `GET /sessions`.
    SessionsQuery,
    Offer {
        statuses: Some(names(SessionState::ALL)),
        agent: true,
        team: true,
        ..Offer::default()
    }
);
list_query!(
    /// The query of `GET /dead-letter`.
    DeadLettersQuery,
    Offer {
        priority: true,
        format: true,
        ..Offer::default()
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(params: &[Parameter]) -> Vec<&str> {
        params.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn each_list_documents_what_it_offers() {
        let never = || None;
        assert_eq!(
            names_of(&PageQuery::into_params(never)),
            ["limit", "cursor"]
        );
        assert_eq!(
            names_of(&TasksQuery::into_params(never)),
            [
                "limit", "cursor", "sort", "status", "priority", "agent_id", "team_id", "filter"
            ]
        );
        assert_eq!(
            names_of(&SessionsQuery::into_params(never)),
            ["limit", "cursor", "status", "agent_id", "team_id", "filter"]
        );
        assert_eq!(
            names_of(&DeadLettersQuery::into_params(never)),
            ["limit", "cursor", "priority", "filter", "format"]
        );
    }

    #[test]
    fn status_names_are_the_wire_names() {
        assert!(names(&TaskStatus::ALL).contains(&"dead_letter".to_owned()));
        assert_eq!(names(&TaskStatus::ALL).len(), TaskStatus::ALL.len());
        assert_eq!(names(SessionState::ALL).len(), SessionState::ALL.len());
        assert_eq!(names(&Priority::ALL), ["critical", "high", "medium", "low"]);
    }
}
