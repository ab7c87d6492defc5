#include "server/base/clock.h"

namespace switchboard::base {

RealClock* RealClock::Get() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace switchboard::base
