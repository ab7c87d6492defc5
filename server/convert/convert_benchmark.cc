// Cost of EventConverter::Convert on example events, next to the floor: a RapidJSON DOM parse
// of the same bytes with the flags DESIGN.md §1.3 asks for.
//
//   bazel run -c opt //server/convert:convert_benchmark
//
// Convert/heap makes a new heap Event per call; Convert/arena converts into an Event on an
// arena that is reset after each call (what the ingress path does), both with the typed
// `oneof object`; ConvertArenaStructOnly is the same with Options::fill_typed off (the cost
// before typed messages); TypedWalk is the converter's parse plus the typed walk alone (no
// Struct); ParseChecked is the converter's own parse alone; ParseFloor is the floor.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "protos/switchboard/v1/event.pb.h"
#include "rapidjson/document.h"
#include "server/convert/event_converter.h"
#include "server/convert/json_parse.h"
#include "server/convert/typed_walker.h"

namespace switchboard::server::convert {
namespace {

// Runs in the runfiles tree (bazel run), where the data dependency lives at this path.
std::string ReadEvent(const std::string& name) {
  const std::string path = "tests/testdata/events/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) {
    std::cerr << "cannot open " << path << " (run with bazel run)\n";
    std::exit(1);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

const char* const kEvents[] = {
    "thin_v2_example.json",           // ~0.5 KB
    "customer.updated.json",          // ~1.5 KB
    "payment_intent.succeeded.json",  // ~3 KB
    "charge.succeeded.json",          // ~3.5 KB
    "invoice.paid.json",              // ~6.5 KB
};

void BM_ConvertHeap(benchmark::State& state) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  const EventConverter converter;
  for (auto _ : state) {
    switchboard::v1::Event event;
    const absl::Status status = converter.Convert(body, &event);
    if (!status.ok()) state.SkipWithError("convert failed");
    benchmark::DoNotOptimize(event);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void ConvertOnArena(benchmark::State& state, const EventConverter& converter) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 * 1024;
  google::protobuf::Arena arena(options);
  for (auto _ : state) {
    auto* event = google::protobuf::Arena::CreateMessage<switchboard::v1::Event>(&arena);
    const absl::Status status = converter.Convert(body, event);
    if (!status.ok()) state.SkipWithError("convert failed");
    benchmark::DoNotOptimize(event);
    arena.Reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_ConvertArena(benchmark::State& state) { ConvertOnArena(state, EventConverter()); }

// What the ingress pays per event: the same checks as Convert, the envelope only.
void BM_Inspect(benchmark::State& state) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  const EventConverter converter;
  EventEnvelope envelope;
  for (auto _ : state) {
    const absl::Status status = converter.Inspect(body, &envelope);
    if (!status.ok()) state.SkipWithError("inspect failed");
    benchmark::DoNotOptimize(envelope);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_ConvertArenaStructOnly(benchmark::State& state) {
  EventConverter::Options options;
  options.fill_typed = false;
  ConvertOnArena(state, EventConverter(options));
}

// Parse plus the typed walk into the EventData arm, on an arena; no envelope, no Struct.
void BM_TypedWalk(benchmark::State& state) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  const internal::TypedWalker& walker = internal::TypedWalker::Get();
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 * 1024;
  google::protobuf::Arena arena(options);
  for (auto _ : state) {
    internal::ParsedJson parsed;
    if (!internal::ParseJson(body, internal::ParseOptions{}, &parsed).ok()) {
      state.SkipWithError("parse failed");
    }
    auto* data = google::protobuf::Arena::CreateMessage<switchboard::v1::EventData>(&arena);
    const rapidjson::Value& root = parsed.root();
    auto it = root.FindMember("data");
    if (it != root.MemberEnd() && it->value.IsObject()) {
      auto object = it->value.FindMember("object");
      auto kind = object->value.FindMember("object");
      const google::protobuf::FieldDescriptor* arm = walker.ArmForKind(
          absl::string_view(kind->value.GetString(), kind->value.GetStringLength()));
      if (arm != nullptr) {
        walker.Fill(object->value, data->GetReflection()->MutableMessage(data, arm),
                    data->mutable_typed_misses());
      }
    }
    benchmark::DoNotOptimize(data);
    arena.Reset();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_ParseFloor(benchmark::State& state) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  for (auto _ : state) {
    rapidjson::Document document;
    document.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
        body.data(), body.size());
    if (document.HasParseError()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(document);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

// The converter's own parse (in situ, depth/UTF-8 checks, numbers typed from text), no Struct.
void BM_ParseChecked(benchmark::State& state) {
  const std::string body = ReadEvent(kEvents[state.range(0)]);
  state.SetLabel(kEvents[state.range(0)]);
  for (auto _ : state) {
    internal::ParsedJson parsed;
    if (!internal::ParseJson(body, internal::ParseOptions{}, &parsed).ok()) {
      state.SkipWithError("parse failed");
    }
    benchmark::DoNotOptimize(parsed.root());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

constexpr int kEventCount = sizeof(kEvents) / sizeof(kEvents[0]);
BENCHMARK(BM_ConvertHeap)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_ConvertArena)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_Inspect)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_ConvertArenaStructOnly)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_TypedWalk)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_ParseChecked)->DenseRange(0, kEventCount - 1);
BENCHMARK(BM_ParseFloor)->DenseRange(0, kEventCount - 1);

}  // namespace
}  // namespace switchboard::server::convert
