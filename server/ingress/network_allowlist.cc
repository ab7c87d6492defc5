#include "server/ingress/network_allowlist.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard::server::ingress {
namespace {

// Parses an IPv4 or IPv6 address into 16 bytes (IPv4 mapped into ::ffff:0:0/96).
bool ParseAddress(absl::string_view text, std::array<uint8_t, 16>* out, bool* is_v4) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > 45) return false;
  const std::string s(text);
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out->fill(0);
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &v4, 4);
    *is_v4 = true;
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out->data(), &v6, 16);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *is_v4 = std::memcmp(out->data(), kMapped, 12) == 0;
    return true;
  }
  return false;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[i] & mask) == (b[i] & mask);
}

}  // namespace

absl::StatusOr<NetworkAllowlist> NetworkAllowlist::Create(
    const std::vector<std::string>& networks) {
  NetworkAllowlist out;
  for (const std::string& entry : networks) {
    const size_t slash = entry.find('/');
    Network n;
    bool is_v4 = false;
    if (!ParseAddress(absl::string_view(entry).substr(0, slash), &n.bytes, &is_v4)) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed network \"", entry, "\": bad address"));
    }
    const int max_bits = is_v4 ? 32 : 128;
    int bits = max_bits;
    if (slash != std::string::npos &&
        (!absl::SimpleAtoi(absl::string_view(entry).substr(slash + 1), &bits) || bits < 0 ||
         bits > max_bits)) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed network \"", entry, "\": bad prefix"));
    }
    n.prefix_bits = is_v4 ? bits + 96 : bits;
    out.networks_.push_back(n);
  }
  return out;
}

bool NetworkAllowlist::Allows(absl::string_view address) const {
  std::array<uint8_t, 16> bytes;
  bool is_v4 = false;
  if (!ParseAddress(address, &bytes, &is_v4)) return false;
  for (const Network& n : networks_) {
    if (PrefixMatches(bytes, n.bytes, n.prefix_bits)) return true;
  }
  return false;
}

std::string NetworkAllowlist::ClientAddress(absl::string_view remote_addr,
                                            std::optional<absl::string_view> forwarded_for,
                                            bool trust_forwarded_for) {
  if (trust_forwarded_for && forwarded_for && !forwarded_for->empty()) {
    const size_t comma = forwarded_for->rfind(',');
    absl::string_view last =
        comma == absl::string_view::npos ? *forwarded_for : forwarded_for->substr(comma + 1);
    return std::string(absl::StripAsciiWhitespace(last));
  }
  return std::string(remote_addr);
}

}  // namespace switchboard::server::ingress
