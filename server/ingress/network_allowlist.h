// NetworkAllowlist: which source addresses may POST webhooks (optional).
//
// Stripe sends webhooks from a published set of addresses; an operator may list those networks
// (CIDR, IPv4 or IPv6) so nothing else reaches signature checking. Behind a reverse proxy the
// socket peer is the proxy: with `trust_forwarded_for`, the client address is taken from the
// last entry of X-Forwarded-For (the one the proxy itself appended), counting every line of that
// header (a proxy may append a line of its own after the client's); without it that header is
// ignored, since any client can send it.
//
// Example:
//   ASSIGN_OR_RETURN(NetworkAllowlist allow, NetworkAllowlist::Create({"3.18.12.63/32",
//   "::1/128"})); bool ok = allow.Allows("3.18.12.63");
//
// Thread-safety: immutable after Create; Allows is const.
#ifndef SWITCHBOARD_SERVER_INGRESS_NETWORK_ALLOWLIST_H_
#define SWITCHBOARD_SERVER_INGRESS_NETWORK_ALLOWLIST_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::server::ingress {

class NetworkAllowlist {
 public:
  // Each entry is "address/prefix" or a bare address (a single host). kInvalidArgument names the
  // first entry that does not parse.
  static absl::StatusOr<NetworkAllowlist> Create(const std::vector<std::string>& networks);

  // True when `address` (textual IPv4 or IPv6; IPv4-mapped IPv6 counts as IPv4) is inside one of
  // the networks. False for anything that does not parse.
  bool Allows(absl::string_view address) const;

  // The address to check for a request: `remote_addr`, or with trust_forwarded_for the last
  // X-Forwarded-For entry (whitespace trimmed; empty, so refused, when the field ends in a
  // comma) when the field is present and not empty. `forwarded_for` must hold every line of the
  // field combined in order (HttpRequest::CombinedHeader), never just the first line.
  static std::string ClientAddress(absl::string_view remote_addr,
                                   std::optional<absl::string_view> forwarded_for,
                                   bool trust_forwarded_for);

 private:
  struct Network {
    std::array<uint8_t, 16> bytes;  // IPv4 as IPv4-mapped IPv6
    int prefix_bits;                // of the 128
  };
  std::vector<Network> networks_;
};

}  // namespace switchboard::server::ingress

#endif  // SWITCHBOARD_SERVER_INGRESS_NETWORK_ALLOWLIST_H_
