// Internal to //tools/trigger: the built-in example events.
//
// Each template is a complete Stripe v1 Event (object "event", API version 2024-06-20) written
// for this project, with placeholders that BuildExampleEvent fills in:
//   {{event_id}}  the event's id ("evt_...")
//   {{created}}   unix seconds of the send (event and object creation times)
//   {{id}}        a random 24-character suffix for the ids of the objects the event is about
// Thread-safe: immutable data.
#ifndef SWITCHBOARD_TOOLS_TRIGGER_FIXTURES_H_
#define SWITCHBOARD_TOOLS_TRIGGER_FIXTURES_H_

#include "absl/types/span.h"

namespace switchboard::tools::trigger::internal {

struct EventTemplate {
  const char* type;
  const char* body;
};

// Sorted by type.
absl::Span<const EventTemplate> EventTemplates();

}  // namespace switchboard::tools::trigger::internal

#endif  // SWITCHBOARD_TOOLS_TRIGGER_FIXTURES_H_
