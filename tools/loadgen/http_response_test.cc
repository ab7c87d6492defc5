#include "tools/loadgen/http_response.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::tools::loadgen {
namespace {

constexpr char kOk[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    "{\"received\":1}\n";

TEST(ParseResponse, FramesAResponseByContentLength) {
  const ParsedResponse r = ParseResponse(kOk);
  ASSERT_EQ(r.state, ParseState::kComplete) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.length, std::string(kOk).size());
  EXPECT_FALSE(r.close);
}

TEST(ParseResponse, IsIncompleteUntilTheLastBodyByte) {
  const std::string whole = kOk;
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(ParseResponse(whole.substr(0, n)).state, ParseState::kIncomplete) << n;
  }
}

TEST(ParseResponse, LengthStopsAtTheFirstResponse) {
  const std::string two = std::string(kOk) + kOk;
  const ParsedResponse r = ParseResponse(two);
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.length, std::string(kOk).size());
}

TEST(ParseResponse, ReadsStatusAndHeaderNamesCaseInsensitively) {
  const ParsedResponse r = ParseResponse(
      "HTTP/1.1 503 Service Unavailable\r\ncontent-length:  2\r\nCONNECTION: Close\r\n\r\n{}");
  ASSERT_EQ(r.state, ParseState::kComplete) << r.error;
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.close);
}

TEST(ParseResponse, StatusLineWithoutReasonPhrase) {
  const ParsedResponse r = ParseResponse("HTTP/1.1 400\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete) << r.error;
  EXPECT_EQ(r.status, 400);
}

TEST(ParseResponse, Http10ClosesUnlessKeepAlive) {
  EXPECT_TRUE(ParseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").close);
  EXPECT_FALSE(
      ParseResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
          .close);
}

TEST(ParseResponse, NoBodyFor204And304) {
  const ParsedResponse r = ParseResponse("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete) << r.error;
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.length, 27u);
}

TEST(ParseResponse, SkipsInterimResponses) {
  const std::string data = std::string("HTTP/1.1 100 Continue\r\n\r\n") + kOk;
  const ParsedResponse r = ParseResponse(data);
  ASSERT_EQ(r.state, ParseState::kComplete) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.length, data.size());
  EXPECT_EQ(ParseResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200").state,
            ParseState::kIncomplete);
}

TEST(ParseResponse, RefusesWhatItCannotFrame) {
  for (const char* bad : {
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
           "HTTP/2 200\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 101 Switching Protocols\r\n\r\n",
           "garbage\r\n\r\n",
       }) {
    const ParsedResponse r = ParseResponse(bad);
    EXPECT_EQ(r.state, ParseState::kError) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
}

TEST(ParseResponse, BoundsTheHead) {
  EXPECT_EQ(ParseResponse(std::string(kMaxResponseHead + 1, 'x')).state, ParseState::kError);
  const std::string huge_header =
      "HTTP/1.1 200 OK\r\nX: " + std::string(kMaxResponseHead, 'y') + "\r\n\r\n";
  EXPECT_EQ(ParseResponse(huge_header).state, ParseState::kError);
}

TEST(ParseResponse, BoundsTheBody) {
  const ParsedResponse r = ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n");
  EXPECT_EQ(r.state, ParseState::kError);
}

}  // namespace
}  // namespace switchboard::tools::loadgen
