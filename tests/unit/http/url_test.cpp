#include "http/url.hpp"

#include "http/error.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace rostersync::http {
namespace {

namespace ip = boost::asio::ip;

// ---------------------------------------------------------------------------------------------
// parse_url: good URLs

struct good_url {
    const char* text;
    const char* scheme;
    const char* host;
    std::uint16_t port;
    bool explicit_port;
    const char* target;
    bool host_is_ip;
    const char* authority;
    const char* str;
};

std::ostream& operator<<(std::ostream& os, const good_url& c) { return os << c.text; }

class ParseUrlGood : public testing::TestWithParam<good_url> {};

TEST_P(ParseUrlGood, Parses)
{
    const auto& c = GetParam();
    auto r = parse_url(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error().message();
    EXPECT_EQ(r->scheme, c.scheme);
    EXPECT_EQ(r->host, c.host);
    EXPECT_EQ(r->port, c.port);
    EXPECT_EQ(r->explicit_port, c.explicit_port);
    EXPECT_EQ(r->target, c.target);
    EXPECT_EQ(r->host_is_ip, c.host_is_ip);
    EXPECT_EQ(r->authority(), c.authority);
    EXPECT_EQ(r->str(), c.str);
    // str() reads back to the same URL
    auto again = parse_url(r->str());
    ASSERT_TRUE(again) << r->str();
    EXPECT_EQ(again->str(), r->str());
    EXPECT_EQ(again->host, r->host);
    EXPECT_EQ(again->port, r->port);
    EXPECT_EQ(again->target, r->target);
}

INSTANTIATE_TEST_SUITE_P(All, ParseUrlGood, testing::Values(
    good_url{"https://canvas.instructure.com/api/lti/courses/123/names_and_roles?rlid=abc&limit=50",
             "https", "canvas.instructure.com", 443, false,
             "/api/lti/courses/123/names_and_roles?rlid=abc&limit=50", false,
             "canvas.instructure.com",
             "https://canvas.instructure.com/api/lti/courses/123/names_and_roles?rlid=abc&limit=50"},
    good_url{"https://example.com", "https", "example.com", 443, false, "/", false, "example.com",
             "https://example.com/"},
    good_url{"http://example.com/", "http", "example.com", 80, false, "/", false, "example.com",
             "http://example.com/"},
    good_url{"https://example.com:8443/x", "https", "example.com", 8443, true, "/x", false,
             "example.com:8443", "https://example.com:8443/x"},
    good_url{"https://example.com:443/x", "https", "example.com", 443, true, "/x", false,
             "example.com", "https://example.com/x"},
    good_url{"http://example.com:8080/", "http", "example.com", 8080, true, "/", false,
             "example.com:8080", "http://example.com:8080/"},
    good_url{"http://example.com:443/", "http", "example.com", 443, true, "/", false,
             "example.com:443", "http://example.com:443/"},
    good_url{"https://example.com:65535/", "https", "example.com", 65535, true, "/", false,
             "example.com:65535", "https://example.com:65535/"},
    good_url{"https://example.com:1/", "https", "example.com", 1, true, "/", false,
             "example.com:1", "https://example.com:1/"},
    good_url{"HTTPS://Canvas.Example.EDU/Path/To?Q=V", "https", "canvas.example.edu", 443, false,
             "/Path/To?Q=V", false, "canvas.example.edu", "https://canvas.example.edu/Path/To?Q=V"},
    good_url{"https://example.com./a", "https", "example.com", 443, false, "/a", false,
             "example.com", "https://example.com/a"},
    good_url{"https://example.com/a%20b/c?x=%2F%3D&y=caf%C3%A9#frag", "https", "example.com", 443,
             false, "/a%20b/c?x=%2F%3D&y=caf%C3%A9", false, "example.com",
             "https://example.com/a%20b/c?x=%2F%3D&y=caf%C3%A9"},
    good_url{"https://example.com/p?", "https", "example.com", 443, false, "/p?", false,
             "example.com", "https://example.com/p?"},
    good_url{"https://example.com#only-fragment", "https", "example.com", 443, false, "/", false,
             "example.com", "https://example.com/"},
    good_url{"https://127.0.0.1:8443/api", "https", "127.0.0.1", 8443, true, "/api", true,
             "127.0.0.1:8443", "https://127.0.0.1:8443/api"},
    good_url{"http://[::1]:8080/lms", "http", "::1", 8080, true, "/lms", true, "[::1]:8080",
             "http://[::1]:8080/lms"},
    good_url{"https://[2001:DB8::1]/", "https", "2001:db8::1", 443, false, "/", true,
             "[2001:db8::1]", "https://[2001:db8::1]/"},
    good_url{"https://[2001:db8:0:0:0:0:0:1]/", "https", "2001:db8::1", 443, false, "/", true,
             "[2001:db8::1]", "https://[2001:db8::1]/"},
    good_url{"https://[::ffff:10.0.0.1]/", "https", "::ffff:10.0.0.1", 443, false, "/", true,
             "[::ffff:10.0.0.1]", "https://[::ffff:10.0.0.1]/"},
    good_url{"https://localhost:9000/", "https", "localhost", 9000, true, "/", false,
             "localhost:9000", "https://localhost:9000/"},
    good_url{"https://my-host-1.example.com/", "https", "my-host-1.example.com", 443, false, "/",
             false, "my-host-1.example.com", "https://my-host-1.example.com/"}));

// ---------------------------------------------------------------------------------------------
// parse_url: bad URLs

class ParseUrlBad : public testing::TestWithParam<const char*> {};

TEST_P(ParseUrlBad, Refused)
{
    auto r = parse_url(GetParam());
    ASSERT_FALSE(r) << GetParam() << " parsed as " << r->str();
    EXPECT_EQ(r.error(), make_error_code(errc::bad_url)) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(All, ParseUrlBad, testing::Values(
    "",                                   // empty
    "ftp://example.com/",                 // scheme
    "file:///etc/passwd",
    "javascript:alert(1)",
    "wss://example.com/",
    "/api/v1/courses",                    // relative
    "//example.com/x",                    // scheme-relative
    "example.com/x",
    "https:example.com",                  // no authority
    "https:/example.com",
    "https://user@example.com/",          // userinfo
    "https://user:pass@example.com/",
    "https://@example.com/",
    "https://trusted.example.com@evil.net/",
    "https:///path",                      // empty host
    "https://:443/",
    "https://example.com:0/",             // port
    "https://example.com:70000/",
    "https://example.com:65536/",
    "https://example.com:abc/",
    "https://example.com:/",
    "https://example.com:-1/",
    "https://exa mple.com/",              // spaces and other bad characters
    "https://example.com/a b",
    " https://example.com/",
    "https://example.com/ ",
    "https://example.com/\r\nX-Injected: 1",
    "https://exa%6Dple.com/",             // percent-encoded host
    "https://example%2ecom/",
    "https://exa_mple.com/",              // outside [a-z0-9.-]
    "https://example.com!/",
    "https://a..example.com/",            // empty labels
    "https://.example.com/",
    "https://example.com../",
    "https://./",
    "https://[v1.fe80::a]/",              // IPvFuture
    "https://[::1/",                      // broken IPv6
    "https://[fe80::1%25eth0]/",          // zone id
    "https://127.1/",                     // numeric reg-names that resolvers read as IPv4
    "https://2130706433/",
    "https://0x7f000001/",
    "https://127.000.0.1/",
    "https://example.com\\@evil.net/"));

TEST(ParseUrl, HugeInputsDoNotThrow)
{
    std::string long_host(300, 'a');
    EXPECT_FALSE(parse_url("https://" + long_host + ".com/"));
    std::string long_label(64, 'a');
    EXPECT_FALSE(parse_url("https://" + long_label + ".com/"));
    std::string ok_label(63, 'a');
    EXPECT_TRUE(parse_url("https://" + ok_label + ".com/"));
    std::string long_path = "https://example.com/" + std::string(100000, 'x');
    auto r = parse_url(long_path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->target.size(), 100001u);
}

TEST(ParseUrl, ErrorIsNotRetryable)
{
    auto r = parse_url("ftp://x/");
    ASSERT_FALSE(r);
    EXPECT_FALSE(is_retryable(r.error()));
}

TEST(Url, AuthorityOfHandBuiltUrls)
{
    url u;
    u.scheme = "https";
    u.host = "fe80::1";
    u.port = 8443;
    u.host_is_ip = true;
    u.target = "/x";
    EXPECT_EQ(u.authority(), "[fe80::1]:8443");
    EXPECT_EQ(u.str(), "https://[fe80::1]:8443/x");
    u.port = 443;
    EXPECT_EQ(u.authority(), "[fe80::1]");
    u.scheme = "http";
    u.host = "example.com";
    u.host_is_ip = false;
    u.port = 80;
    EXPECT_EQ(u.str(), "http://example.com/x");
}

// ---------------------------------------------------------------------------------------------
// host_matches

struct match_case {
    const char* host;
    const char* pattern;
    bool expected;
};

std::ostream& operator<<(std::ostream& os, const match_case& c)
{
    return os << c.host << " ~ " << c.pattern;
}

class HostMatches : public testing::TestWithParam<match_case> {};

TEST_P(HostMatches, Rule)
{
    const auto& c = GetParam();
    EXPECT_EQ(host_matches(c.host, c.pattern), c.expected) << c.host << " vs " << c.pattern;
}

INSTANTIATE_TEST_SUITE_P(All, HostMatches, testing::Values(
    // exact names, case-insensitive
    match_case{"canvas.myschool.edu", "canvas.myschool.edu", true},
    match_case{"canvas.myschool.edu", "Canvas.MySchool.EDU", true},
    match_case{"CANVAS.myschool.edu", "canvas.myschool.edu", true},
    match_case{"canvas.myschool.edu", "myschool.edu", false},
    match_case{"myschool.edu", "canvas.myschool.edu", false},
    match_case{"canvas.myschool.edu.", "canvas.myschool.edu", false},
    // wildcards at depth 1 and 2
    match_case{"school.instructure.com", "*.instructure.com", true},
    match_case{"a.b.instructure.com", "*.instructure.com", true},
    match_case{"School.Instructure.COM", "*.instructure.com", true},
    match_case{"school.instructure.com", "*.Instructure.Com", true},
    // never the apex
    match_case{"instructure.com", "*.instructure.com", false},
    match_case{".instructure.com", "*.instructure.com", false},
    match_case{"a..instructure.com", "*.instructure.com", false},
    // suffix tricks
    match_case{"evilinstructure.com", "*.instructure.com", false},
    match_case{"instructure.com.evil.net", "*.instructure.com", false},
    match_case{"school.instructure.com.evil.net", "*.instructure.com", false},
    match_case{"school-instructure.com", "*.instructure.com", false},
    match_case{"instructure.com", "instructure.com.", false},
    // patterns that are too broad or malformed match nothing
    match_case{"example.com", "*.com", false},
    match_case{"example.com", "*", false},
    match_case{"example.com", "*.", false},
    match_case{"a.example.com", "*.*.com", false},
    match_case{"a.example.com", "**.example.com", false},
    match_case{"example.com", "", false},
    match_case{"", "example.com", false},
    match_case{"", "*.example.com", false},
    // IP literals and localhost only when listed literally
    match_case{"127.0.0.1", "127.0.0.1", true},
    match_case{"127.0.0.1", "*.0.0.1", false},
    match_case{"10.1.2.3", "*.2.3", false},
    match_case{"10.1.2.3", "10.1.2.4", false},
    match_case{"::1", "::1", true},
    match_case{"::1", "[::1]", true},
    match_case{"2001:db8::1", "2001:DB8:0:0:0:0:0:1", true},
    match_case{"localhost", "localhost", true},
    match_case{"localhost", "LocalHost", true},
    match_case{"localhost", "*.localhost", false},
    match_case{"localhost", "*.local.host", false}));

// ---------------------------------------------------------------------------------------------
// check_url

url must_parse(const char* text)
{
    auto r = parse_url(text);
    EXPECT_TRUE(r) << text;
    return r ? *r : url{};
}

TEST(CheckUrl, SchemeRule)
{
    const host_policy strict{{"*.instructure.com"}, false};
    const host_policy lax{{"*.instructure.com"}, true};
    const auto https = must_parse("https://school.instructure.com/api");
    const auto http = must_parse("http://school.instructure.com/api");

    EXPECT_FALSE(check_url(https, strict));
    EXPECT_EQ(check_url(http, strict), make_error_code(errc::scheme_not_allowed));
    EXPECT_FALSE(check_url(https, lax));
    EXPECT_FALSE(check_url(http, lax));
}

TEST(CheckUrl, UnknownSchemeOnHandBuiltUrlIsRefused)
{
    url u = must_parse("https://school.instructure.com/");
    u.scheme = "ftp";
    EXPECT_EQ(check_url(u, host_policy{{"*.instructure.com"}, true}),
              make_error_code(errc::scheme_not_allowed));
}

TEST(CheckUrl, SchemeIsCheckedBeforeHost)
{
    const host_policy strict{{"*.instructure.com"}, false};
    EXPECT_EQ(check_url(must_parse("http://evil.net/"), strict), make_error_code(errc::scheme_not_allowed));
}

TEST(CheckUrl, HostRule)
{
    const host_policy p{{"*.instructure.com", "canvas.myschool.edu", "127.0.0.1", "::1", "localhost"}, true};
    EXPECT_FALSE(check_url(must_parse("https://school.instructure.com/"), p));
    EXPECT_FALSE(check_url(must_parse("https://a.b.instructure.com/"), p));
    EXPECT_FALSE(check_url(must_parse("https://CANVAS.MySchool.edu/x"), p));
    EXPECT_FALSE(check_url(must_parse("http://127.0.0.1:8080/"), p));
    EXPECT_FALSE(check_url(must_parse("http://[::1]:8080/"), p));
    EXPECT_FALSE(check_url(must_parse("http://localhost:8080/"), p));

    const auto refused = make_error_code(errc::host_not_allowed);
    EXPECT_EQ(check_url(must_parse("https://instructure.com/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://evilinstructure.com/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://instructure.com.evil.net/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://myschool.edu/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://127.0.0.2/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://[::2]/"), p), refused);
    EXPECT_EQ(check_url(must_parse("https://169.254.169.254/latest/meta-data/"), p), refused);
}

TEST(CheckUrl, EmptyPolicyRefusesEverything)
{
    EXPECT_EQ(check_url(must_parse("https://school.instructure.com/"), host_policy{}),
              make_error_code(errc::host_not_allowed));
}

// ---------------------------------------------------------------------------------------------
// is_internal_address

struct address_case {
    const char* address;
    bool internal;
};

std::ostream& operator<<(std::ostream& os, const address_case& c) { return os << c.address; }

class InternalAddress : public testing::TestWithParam<address_case> {};

TEST_P(InternalAddress, Classifies)
{
    const auto& c = GetParam();
    boost::system::error_code ec;
    auto a = ip::make_address(c.address, ec);
    ASSERT_FALSE(ec) << c.address;
    EXPECT_EQ(is_internal_address(a), c.internal) << c.address;
}

INSTANTIATE_TEST_SUITE_P(V4, InternalAddress, testing::Values(
    address_case{"0.0.0.0", true}, address_case{"0.255.255.255", true},
    address_case{"10.0.0.1", true}, address_case{"10.255.255.255", true},
    address_case{"100.64.0.1", true}, address_case{"100.127.255.255", true},
    address_case{"100.63.255.255", false}, address_case{"100.128.0.0", false},
    address_case{"127.0.0.1", true}, address_case{"127.255.255.254", true},
    address_case{"169.254.169.254", true}, address_case{"169.253.0.1", false},
    address_case{"172.16.0.1", true}, address_case{"172.31.255.255", true},
    address_case{"172.15.255.255", false}, address_case{"172.32.0.0", false},
    address_case{"192.168.1.1", true}, address_case{"192.169.0.1", false},
    address_case{"224.0.0.1", true}, address_case{"239.255.255.255", true},
    address_case{"255.255.255.255", true},
    address_case{"1.1.1.1", false}, address_case{"8.8.8.8", false},
    address_case{"11.0.0.1", false}, address_case{"52.84.10.3", false}));

INSTANTIATE_TEST_SUITE_P(V6, InternalAddress, testing::Values(
    address_case{"::", true}, address_case{"::1", true},
    address_case{"fc00::1", true}, address_case{"fd12:3456:789a::1", true},
    address_case{"fe80::1", true}, address_case{"febf:ffff::1", true},
    address_case{"ff02::1", true}, address_case{"ff05::2", true},
    address_case{"fec0::1", false}, address_case{"fbff::1", false},
    address_case{"2001:4860:4860::8888", false}, address_case{"2606:4700::1111", false},
    address_case{"::2", false}));

INSTANTIATE_TEST_SUITE_P(Mapped, InternalAddress, testing::Values(
    address_case{"::ffff:127.0.0.1", true}, address_case{"::ffff:10.1.2.3", true},
    address_case{"::ffff:169.254.169.254", true}, address_case{"::ffff:192.168.0.1", true},
    address_case{"::ffff:100.64.1.1", true}, address_case{"::ffff:0.0.0.0", true},
    address_case{"::ffff:224.0.0.1", true}, address_case{"::ffff:8.8.8.8", false},
    address_case{"::ffff:1.1.1.1", false}));

// ---------------------------------------------------------------------------------------------
// check_resolved

std::vector<ip::address> addrs(std::initializer_list<const char*> texts)
{
    std::vector<ip::address> out;
    for (const char* t : texts) out.push_back(ip::make_address(t));
    return out;
}

TEST(CheckResolved, PublicAddressesPass)
{
    const host_policy p{{"*.instructure.com"}, false};
    EXPECT_FALSE(check_resolved("school.instructure.com", addrs({"52.84.10.3", "2600:9000::1"}), p));
}

TEST(CheckResolved, EmptyListIsNotAnErrorHere)
{
    EXPECT_FALSE(check_resolved("school.instructure.com", {}, host_policy{{"*.instructure.com"}, false}));
}

TEST(CheckResolved, InternalAddressThroughWildcardIsRefused)
{
    const host_policy p{{"*.instructure.com"}, false};
    const auto refused = make_error_code(errc::private_address);
    EXPECT_EQ(check_resolved("evil.instructure.com", addrs({"127.0.0.1"}), p), refused);
    EXPECT_EQ(check_resolved("evil.instructure.com", addrs({"52.84.10.3", "10.0.0.5"}), p), refused);
    EXPECT_EQ(check_resolved("evil.instructure.com", addrs({"::ffff:169.254.169.254"}), p), refused);
    EXPECT_EQ(check_resolved("evil.instructure.com", addrs({"fd00::1"}), p), refused);
    EXPECT_EQ(check_resolved("instructure.com", addrs({"192.168.0.1"}), p), refused);
}

TEST(CheckResolved, ListedNamesMayBeInternal)
{
    const host_policy p{{"*.instructure.com", "canvas.internal.edu", "localhost", "10.0.0.7", "::1"}, true};
    EXPECT_FALSE(check_resolved("canvas.internal.edu", addrs({"10.1.2.3"}), p));
    EXPECT_FALSE(check_resolved("Canvas.Internal.EDU", addrs({"10.1.2.3"}), p));
    EXPECT_FALSE(check_resolved("localhost", addrs({"127.0.0.1", "::1"}), p));
    EXPECT_FALSE(check_resolved("10.0.0.7", addrs({"10.0.0.7"}), p));
    EXPECT_FALSE(check_resolved("::1", addrs({"::1"}), p));
    // not listed literally
    EXPECT_EQ(check_resolved("other.internal.edu", addrs({"10.1.2.3"}), p),
              make_error_code(errc::private_address));
    EXPECT_EQ(check_resolved("10.0.0.8", addrs({"10.0.0.8"}), p), make_error_code(errc::private_address));
    EXPECT_EQ(check_resolved("", addrs({"127.0.0.1"}), p), make_error_code(errc::private_address));
}

TEST(CheckResolved, WildcardEntryIsNotALiteralListing)
{
    const host_policy p{{"*.instructure.com"}, false};
    EXPECT_EQ(check_resolved("*.instructure.com", addrs({"127.0.0.1"}), p),
              make_error_code(errc::private_address));
}

// ---------------------------------------------------------------------------------------------
// check_same_origin

struct origin_case {
    const char* first;
    const char* next;
    bool same;
};

std::ostream& operator<<(std::ostream& os, const origin_case& c)
{
    return os << c.first << " -> " << c.next;
}

class SameOrigin : public testing::TestWithParam<origin_case> {};

TEST_P(SameOrigin, Rule)
{
    const auto& c = GetParam();
    const auto ec = check_same_origin(must_parse(c.first), must_parse(c.next));
    if (c.same) {
        EXPECT_FALSE(ec) << ec.message();
    } else {
        EXPECT_EQ(ec, make_error_code(errc::next_host_changed));
    }
}

INSTANTIATE_TEST_SUITE_P(All, SameOrigin, testing::Values(
    origin_case{"https://s.instructure.com/api/m?page=1", "https://s.instructure.com/api/m?page=2", true},
    origin_case{"https://s.instructure.com/a", "https://S.Instructure.COM/b", true},
    origin_case{"https://s.instructure.com/a", "https://s.instructure.com:443/b", true},
    origin_case{"http://s.example.com/a", "http://s.example.com:80/b", true},
    origin_case{"https://[::1]:8443/a", "https://[0:0:0:0:0:0:0:1]:8443/b", true},
    origin_case{"https://s.instructure.com/a", "https://s.instructure.com:8443/a", false},
    origin_case{"https://s.instructure.com:8443/a", "https://s.instructure.com/a", false},
    origin_case{"https://s.instructure.com/a", "http://s.instructure.com/a", false},
    origin_case{"http://s.instructure.com:443/a", "https://s.instructure.com/a", false},
    origin_case{"https://s.instructure.com/a", "https://t.instructure.com/a", false},
    origin_case{"https://s.instructure.com/a", "https://s.instructure.com.evil.net/a", false},
    origin_case{"https://127.0.0.1/a", "https://127.0.0.2/a", false}));

}  // namespace
}  // namespace rostersync::http
