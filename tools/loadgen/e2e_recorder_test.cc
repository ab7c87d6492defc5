#include "tools/loadgen/e2e_recorder.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard::tools::loadgen {
namespace {

const absl::Time kT0 = absl::FromUnixMicros(1700000000123456);

switchboard::v1::Event ReceivedAt(absl::Time t) {
  switchboard::v1::Event event;
  const int64_t micros = absl::ToUnixMicros(t);
  event.mutable_received_at()->set_seconds(micros / 1000000);
  event.mutable_received_at()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return event;
}

TEST(EndToEndRecorder, MeasuresHandledMinusReceivedAfterTheWarmUp) {
  EndToEndRecorder recorder(absl::Seconds(1));
  // Warm-up: within 1 s of the first event seen.
  recorder.Record(ReceivedAt(kT0), 1, kT0 + absl::Milliseconds(50));
  recorder.Record(ReceivedAt(kT0 + absl::Milliseconds(999)), 1, kT0 + absl::Seconds(2));
  // Measured: 2 ms and 4 ms.
  recorder.Record(ReceivedAt(kT0 + absl::Seconds(1)), 1,
                  kT0 + absl::Seconds(1) + absl::Milliseconds(2));
  recorder.Record(ReceivedAt(kT0 + absl::Seconds(3)), 2,
                  kT0 + absl::Seconds(3) + absl::Milliseconds(4));
  EXPECT_EQ(recorder.events(), 4);
  EXPECT_EQ(recorder.last_event(), kT0 + absl::Seconds(3) + absl::Milliseconds(4));
  const std::string result = recorder.Result("s1");
  EXPECT_EQ(result.rfind("RESULT sink=s1 events=4 measured=2 redelivered=1 unstamped=0 span_s=2.00 "
                         "rate=1 min_ms=2.000 p50_ms=2.000 ",
                         0),
            0u)
      << result;
  EXPECT_NE(result.find(" max_ms=4.000"), std::string::npos) << result;
}

TEST(EndToEndRecorder, KeepsMicrosecondPrecision) {
  EndToEndRecorder recorder(absl::ZeroDuration());
  recorder.Record(ReceivedAt(kT0), 1, kT0 + absl::Microseconds(357));
  EXPECT_NE(recorder.Result("s").find(" p50_ms=0.357 "), std::string::npos) << recorder.Result("s");
}

TEST(EndToEndRecorder, CountsEventsWithoutReceivedAtApart) {
  EndToEndRecorder recorder(absl::ZeroDuration());
  recorder.Record(switchboard::v1::Event(), 1, kT0);
  const std::string result = recorder.Result("s");
  EXPECT_NE(result.find(" events=1 measured=0 redelivered=0 unstamped=1 span_s=0.00 rate=0 "),
            std::string::npos)
      << result;
}

}  // namespace
}  // namespace switchboard::tools::loadgen
