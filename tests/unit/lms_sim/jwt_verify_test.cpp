#include "lms_sim/jwt_verify.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace rostersync::lms_sim {
namespace {

constexpr double now = 1'700'000'000;
constexpr const char* token_url = "https://canvas.test/login/oauth2/token";

std::string header(const std::string& alg = "RS256", const std::string& kid = "k1")
{
    boost::json::object h{{"alg", alg}, {"typ", "JWT"}};
    if (!kid.empty()) h["kid"] = kid;
    return boost::json::serialize(h);
}

boost::json::object good_claims()
{
    return {
        {"iss", "https://tool.test"},
        {"sub", "10000000000001"},
        {"aud", token_url},
        {"iat", static_cast<std::int64_t>(now)},
        {"exp", static_cast<std::int64_t>(now) + 300},
        {"jti", "3f1c0f0e-6d1a-4b44-9d36-1f7e2a9f6d1b"},
    };
}

token_error invalid(const std::string& description)
{
    return token_error{.status = 400, .error = "invalid_request", .description = description};
}

class JwtVerify : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        key_ = new rsa_key_pair(generate_rsa_key(2048));
        other_ = new rsa_key_pair(generate_rsa_key(2048));
    }
    static void TearDownTestSuite()
    {
        delete key_;
        delete other_;
        key_ = other_ = nullptr;
    }

    static const rsa_key_pair& key() { return *key_; }
    static const rsa_key_pair& other() { return *other_; }

    static std::string sign(const boost::json::object& claims, const std::string& hdr = header())
    {
        return sign_rs256(hdr, boost::json::serialize(claims), key().private_pem);
    }

    static std::variant<assertion_claims, token_error> verify_pem(const std::string& jwt)
    {
        return verify_client_assertion(
            {.jwt = jwt, .expected_aud = token_url, .now = now, .public_key_pem = key().public_pem}
        );
    }

    static std::variant<assertion_claims, token_error> verify_jwks(
        const std::string& jwt, const std::string& jwks
    )
    {
        return verify_client_assertion(
            {.jwt = jwt, .expected_aud = token_url, .now = now, .jwks_json = jwks}
        );
    }

    /// A JWK set holding our key under kid "k1" among others.
    static std::string jwks()
    {
        auto ec = boost::json::parse(R"({"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"ec"})");
        boost::json::array keys{
            boost::json::parse(public_jwk(other().public_pem, "k0")),
            ec,
            boost::json::parse(public_jwk(key().public_pem, "k1")),
            boost::json::parse(public_jwk(other().public_pem, "k2")),
        };
        return boost::json::serialize(boost::json::object{{"keys", keys}});
    }

    static void expect_error(
        const std::variant<assertion_claims, token_error>& r, const std::string& description
    )
    {
        ASSERT_TRUE(std::holds_alternative<token_error>(r)) << "expected: " << description;
        EXPECT_EQ(std::get<token_error>(r), invalid(description));
    }

    static void expect_ok(const std::variant<assertion_claims, token_error>& r)
    {
        if (const auto* e = std::get_if<token_error>(&r)) FAIL() << e->description;
    }

private:
    static inline rsa_key_pair* key_ = nullptr;
    static inline rsa_key_pair* other_ = nullptr;
};

// ---- success ----

TEST_F(JwtVerify, ValidAssertionVerifiesWithPemKey)
{
    auto r = verify_pem(sign(good_claims()));
    ASSERT_TRUE(std::holds_alternative<assertion_claims>(r));
    const auto& c = std::get<assertion_claims>(r);
    EXPECT_EQ(c.iss, "https://tool.test");
    EXPECT_EQ(c.sub, "10000000000001");
    EXPECT_EQ(c.jti, "3f1c0f0e-6d1a-4b44-9d36-1f7e2a9f6d1b");
    EXPECT_EQ(c.kid, "k1");
    EXPECT_EQ(c.alg, "RS256");
    EXPECT_EQ(c.aud, std::vector<std::string>{token_url});
    EXPECT_EQ(c.iat, now);
    EXPECT_EQ(c.exp, now + 300);
}

TEST_F(JwtVerify, ValidAssertionVerifiesWithJwksAmongOtherKeys)
{
    auto r = verify_jwks(sign(good_claims()), jwks());
    expect_ok(r);
    ASSERT_TRUE(std::holds_alternative<assertion_claims>(r));
    EXPECT_EQ(std::get<assertion_claims>(r).kid, "k1");
}

TEST_F(JwtVerify, PemKeyIgnoresKid)
{
    expect_ok(verify_pem(sign(good_claims(), header("RS256", "whatever"))));
    expect_ok(verify_pem(sign(good_claims(), header("RS256", ""))));
}

TEST_F(JwtVerify, AudAsStringOrArray)
{
    auto c = good_claims();
    c["aud"] = token_url;
    expect_ok(verify_pem(sign(c)));
    c["aud"] = boost::json::array{"https://other.test/login/oauth2/token", token_url};
    auto r = verify_pem(sign(c));
    expect_ok(r);
    ASSERT_TRUE(std::holds_alternative<assertion_claims>(r));
    EXPECT_EQ(std::get<assertion_claims>(r).aud.size(), 2u);
}

TEST_F(JwtVerify, FloatTimesAreNumbers)
{
    auto c = good_claims();
    c["iat"] = now - 0.5;
    c["exp"] = now + 0.25;
    auto r = verify_pem(sign(c));
    expect_ok(r);
    ASSERT_TRUE(std::holds_alternative<assertion_claims>(r));
    EXPECT_EQ(std::get<assertion_claims>(r).exp, now + 0.25);
}

// ---- parse ----

TEST_F(JwtVerify, MalformedJwtIsSignatureInvalid)
{
    auto good = sign(good_claims());
    auto b64 = [](const std::string& s) { return base64url_encode(s); };
    for (std::string jwt : {
             std::string(),
             std::string("garbage"),
             std::string("a.b"),
             good + ".extra",
             "!!!." + good.substr(good.find('.') + 1),
             b64("not json") + "." + b64(boost::json::serialize(good_claims())) + ".AAAA",
             b64("[1]") + "." + b64(boost::json::serialize(good_claims())) + ".AAAA",
             b64(header()) + "." + b64("\"just a string\"") + ".AAAA",
             good.substr(0, good.rfind('.')) + ".***",
         }) {
        SCOPED_TRACE(jwt);
        expect_error(verify_pem(jwt), "JWS signature invalid.");
        expect_error(verify_jwks(jwt, jwks()), "JWS signature invalid.");
    }
}

// ---- key selection ----

TEST_F(JwtVerify, JwksInvalidJson)
{
    expect_error(verify_jwks(sign(good_claims()), "{\"keys\": ["), "JWK Error: Invalid JSON");
    expect_error(verify_jwks(sign(good_claims()), "<html>"), "JWK Error: Invalid JSON");
}

TEST_F(JwtVerify, JwksWithoutTheKid)
{
    expect_error(
        verify_jwks(sign(good_claims(), header("RS256", "k9")), jwks()),
        "JWK Error: Could not find a JWK with kid k9"
    );
    expect_error(
        verify_jwks(sign(good_claims()), R"({"keys":[]})"),
        "JWK Error: Could not find a JWK with kid k1"
    );
    expect_error(
        verify_jwks(sign(good_claims()), R"({"nokeys":1})"),
        "JWK Error: Could not find a JWK with kid k1"
    );
}

TEST_F(JwtVerify, JwksWinsOverPemWhenGiven)
{
    auto r = verify_client_assertion(
        {.jwt = sign(good_claims(), header("RS256", "k9")),
         .expected_aud = token_url,
         .now = now,
         .public_key_pem = key().public_pem,
         .jwks_json = jwks()}
    );
    expect_error(r, "JWK Error: Could not find a JWK with kid k9");
}

TEST_F(JwtVerify, JwtWithoutKidAgainstJwks)
{
    expect_error(
        verify_jwks(sign(good_claims(), header("RS256", "")), jwks()),
        "JWK Error: No key id (kid) in the JWT header"
    );
}

TEST_F(JwtVerify, UnusableJwks)
{
    auto jwk = boost::json::parse(public_jwk(key().public_pem, "k1")).as_object();
    auto with = [](boost::json::object k) {
        return boost::json::serialize(boost::json::object{{"keys", boost::json::array{k}}});
    };
    auto jwt = sign(good_claims());

    auto no_n = jwk;
    no_n.erase("n");
    expect_error(verify_jwks(jwt, with(no_n)), "JWK Error: RSA key is missing n");
    auto no_e = jwk;
    no_e.erase("e");
    expect_error(verify_jwks(jwt, with(no_e)), "JWK Error: RSA key is missing e");
    auto bad_n = jwk;
    bad_n["n"] = "not+base64/";
    expect_error(verify_jwks(jwt, with(bad_n)), "JWK Error: RSA key n is not a base64url string");
    auto num_e = jwk;
    num_e["e"] = 65537;
    expect_error(verify_jwks(jwt, with(num_e)), "JWK Error: RSA key e is not a base64url string");
    auto ec = jwk;
    ec["kty"] = "EC";
    expect_error(verify_jwks(jwt, with(ec)), "JWK Error: Key type EC not supported");
    auto no_kty = jwk;
    no_kty.erase("kty");
    expect_error(verify_jwks(jwt, with(no_kty)), "JWK Error: Key type (kty) not provided");
}

TEST_F(JwtVerify, NoUsableStaticKey)
{
    auto jwt = sign(good_claims());
    expect_error(
        verify_client_assertion({.jwt = jwt, .expected_aud = token_url, .now = now}),
        "JWS signature invalid."
    );
    expect_error(
        verify_client_assertion(
            {.jwt = jwt, .expected_aud = token_url, .now = now, .public_key_pem = "not a pem"}
        ),
        "JWS signature invalid."
    );
    // A private key where a public one belongs is not a usable public key.
    expect_error(
        verify_client_assertion(
            {.jwt = jwt, .expected_aud = token_url, .now = now, .public_key_pem = key().private_pem}
        ),
        "JWS signature invalid."
    );
}

// ---- algorithm and signature ----

TEST_F(JwtVerify, AlgMustBeRs256)
{
    auto payload = base64url_encode(boost::json::serialize(good_claims()));
    auto none = base64url_encode(header("none")) + "." + payload + ".";
    expect_error(verify_pem(none), "JWS signature invalid.");
    expect_error(verify_jwks(none, jwks()), "JWS signature invalid.");

    // Correct RSA signatures under a header that names another algorithm still fail.
    for (const char* alg : {"none", "HS256", "RS512", "rs256"}) {
        SCOPED_TRACE(alg);
        auto jwt = sign(good_claims(), header(alg));
        expect_error(verify_pem(jwt), "JWS signature invalid.");
        expect_error(verify_jwks(jwt, jwks()), "JWS signature invalid.");
    }
    expect_error(verify_pem(sign(good_claims(), R"({"kid":"k1"})")), "JWS signature invalid.");
}

TEST_F(JwtVerify, TamperedPayloadFails)
{
    auto jwt = sign(good_claims());
    auto c = good_claims();
    c["sub"] = "10000000000002";
    auto first = jwt.find('.'), last = jwt.rfind('.');
    auto tampered =
        jwt.substr(0, first + 1) + base64url_encode(boost::json::serialize(c)) + jwt.substr(last);
    expect_error(verify_pem(tampered), "JWS signature invalid.");
    expect_error(verify_jwks(tampered, jwks()), "JWS signature invalid.");
}

TEST_F(JwtVerify, TamperedSignatureFails)
{
    auto jwt = sign(good_claims());
    auto sig = *base64url_decode(jwt.substr(jwt.rfind('.') + 1));
    ASSERT_EQ(sig.size(), 256u);
    sig[100] = static_cast<char>(sig[100] ^ 0x01);
    auto flipped = jwt.substr(0, jwt.rfind('.') + 1) + base64url_encode(sig);
    expect_error(verify_pem(flipped), "JWS signature invalid.");
    auto truncated = jwt.substr(0, jwt.rfind('.') + 1) + base64url_encode(sig.substr(0, 255));
    expect_error(verify_pem(truncated), "JWS signature invalid.");
}

TEST_F(JwtVerify, SignatureByAnotherKeyFails)
{
    auto jwt = sign_rs256(header(), boost::json::serialize(good_claims()), other().private_pem);
    expect_error(verify_pem(jwt), "JWS signature invalid.");
    expect_error(verify_jwks(jwt, jwks()), "JWS signature invalid.");
    // The same token verifies against the key that signed it.
    expect_ok(verify_client_assertion(
        {.jwt = jwt, .expected_aud = token_url, .now = now, .public_key_pem = other().public_pem}
    ));
}

// ---- claims ----

TEST_F(JwtVerify, AllClaimsMissing)
{
    expect_error(
        verify_pem(sign(boost::json::object{})),
        "the following assertions are missing: sub,aud,exp,iat,jti,iss"
    );
}

TEST_F(JwtVerify, SomeClaimsMissingInCanvasOrder)
{
    auto c = good_claims();
    c.erase("iss");
    c.erase("jti");
    c.erase("sub");
    expect_error(verify_pem(sign(c)), "the following assertions are missing: sub,jti,iss");
    c = good_claims();
    c.erase("exp");
    expect_error(verify_pem(sign(c)), "the following assertions are missing: exp");
}

TEST_F(JwtVerify, WrongTypedClaimsCountAsMissing)
{
    auto c = good_claims();
    c["iat"] = std::to_string(static_cast<std::int64_t>(now));
    c["exp"] = nullptr;
    c["sub"] = "";
    c["aud"] = 42;
    c["jti"] = boost::json::array{};
    c["iss"] = 7;
    expect_error(
        verify_pem(sign(c)), "the following assertions are missing: sub,aud,exp,iat,jti,iss"
    );
}

TEST_F(JwtVerify, MissingClaimsBeforeAud)
{
    auto c = good_claims();
    c.erase("iat");
    c["aud"] = "https://elsewhere.test/login/oauth2/token";
    expect_error(verify_pem(sign(c)), "the following assertions are missing: iat");
}

TEST_F(JwtVerify, AudMustContainTheTokenUrl)
{
    auto c = good_claims();
    c["aud"] = "https://canvas.test/login/oauth2/token/";
    expect_error(verify_pem(sign(c)), "the 'aud' is invalid");
    c["aud"] = boost::json::array{"https://a.test/login/oauth2/token", "https://canvas.test"};
    expect_error(verify_pem(sign(c)), "the 'aud' is invalid");
    c["aud"] = boost::json::array{};
    expect_error(verify_pem(sign(c)), "the 'aud' is invalid");
    c["aud"] = "";
    expect_error(verify_pem(sign(c)), "the 'aud' is invalid");
    // aud comes before exp.
    c["exp"] = now - 1;
    expect_error(verify_pem(sign(c)), "the 'aud' is invalid");
}

TEST_F(JwtVerify, Expired)
{
    auto c = good_claims();
    c["exp"] = now;
    expect_error(verify_pem(sign(c)), "the JWT has expired");
    c["exp"] = now - 3600;
    c["iat"] = now - 7200;  // exp is checked before iat
    expect_error(verify_pem(sign(c)), "the JWT has expired");
    c["exp"] = now + 1;
    c["iat"] = now;
    expect_ok(verify_pem(sign(c)));
}

TEST_F(JwtVerify, IatTooOld)
{
    auto c = good_claims();
    c["iat"] = now - 300;
    expect_ok(verify_pem(sign(c)));
    c["iat"] = now - 301;
    expect_error(verify_pem(sign(c)), "the 'iat' must be less than 300 seconds old");
    c["iat"] = now - 300.5;
    expect_error(verify_pem(sign(c)), "the 'iat' must be less than 300 seconds old");
}

TEST_F(JwtVerify, IatInTheFuture)
{
    auto c = good_claims();
    c["iat"] = now + 30;
    expect_ok(verify_pem(sign(c)));
    c["iat"] = now + 31;
    expect_error(verify_pem(sign(c)), "the 'iat' must not be in the future");
    c["iat"] = now + 30.5;
    expect_error(verify_pem(sign(c)), "the 'iat' must not be in the future");
}

TEST_F(JwtVerify, ChecksAfterSignatureUseTheJwksKeyToo)
{
    auto c = good_claims();
    c["exp"] = now - 1;
    expect_error(verify_jwks(sign(c), jwks()), "the JWT has expired");
}

// ---- peek ----

TEST_F(JwtVerify, PeekReadsClaimsWithoutVerifying)
{
    auto jwt = sign_rs256(
        header("none", "kx"), boost::json::serialize(good_claims()), other().private_pem
    );
    auto c = peek_assertion(jwt);
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->sub, "10000000000001");
    EXPECT_EQ(c->kid, "kx");
    EXPECT_EQ(c->alg, "none");
    EXPECT_EQ(c->aud, std::vector<std::string>{token_url});
    EXPECT_EQ(c->iat, now);

    auto unsigned_jwt =
        base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(R"({"sub":"42"})") + ".";
    auto u = peek_assertion(unsigned_jwt);
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->sub, "42");
    EXPECT_TRUE(u->aud.empty());
}

TEST(JwtPeek, GarbageIsNullopt)
{
    auto b64 = [](const std::string& s) { return base64url_encode(s); };
    for (std::string text : {
             std::string(),
             std::string("."),
             std::string(".."),
             std::string("garbage"),
             std::string("a.b.c"),
             std::string("a.b.c.d"),
             b64("{}") + "." + b64("{}"),
             b64("{}") + "." + b64("{}") + "." + b64("{}") + ".",
             b64("{") + "." + b64("{}") + ".",
             b64("{}") + "." + b64("null") + ".",
             b64("{}") + "." + b64("{}") + ".=@",
             "e30." + std::string("e30") + "\n.",
         }) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(peek_assertion(text).has_value());
    }
    EXPECT_TRUE(peek_assertion(b64("{}") + "." + b64("{}") + ".").has_value());
}

// ---- base64url ----

TEST(Base64Url, KnownVectors)
{
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
    EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
    EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf"));
    EXPECT_EQ(base64url_decode("AQAB"), std::string("\x01\x00\x01", 3));
}

TEST(Base64Url, RoundTripLengthsZeroToFive)
{
    const std::string pool("\xfb\xff\x00\x3e\x3f\x80", 6);
    for (std::size_t len = 0; len <= 5; ++len) {
        for (std::size_t start = 0; start + len <= pool.size(); ++start) {
            std::string bytes = pool.substr(start, len);
            auto text = base64url_encode(bytes);
            SCOPED_TRACE(text);
            EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
            EXPECT_EQ(text.size(), (len * 4 + 2) / 3);
            auto back = base64url_decode(text);
            ASSERT_TRUE(back.has_value());
            EXPECT_EQ(*back, bytes);
        }
    }
}

TEST(Base64Url, DecodeRejectsInvalidInput)
{
    for (const char* text :
         {"+/8", "ab/c", "a", "abcde", "ab cd", "ab\ncd", "Zg=", "Z===", "Zm9v=", "Zh", "Zm9"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(base64url_decode(text).has_value());
    }
    EXPECT_FALSE(base64url_decode(std::string("Zg\0", 3)).has_value());
}

TEST(Base64Url, DecodeToleratesCorrectPadding)
{
    EXPECT_EQ(base64url_decode("Zg=="), std::string("f"));
    EXPECT_EQ(base64url_decode("Zm8="), std::string("fo"));
    EXPECT_EQ(base64url_decode(""), std::string());
}

// ---- helpers ----

TEST_F(JwtVerify, GeneratedKeyAndJwkShape)
{
    EXPECT_NE(key().private_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    EXPECT_NE(key().public_pem.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
    auto jwk = boost::json::parse(public_jwk(key().public_pem, "k1")).as_object();
    auto str = [&](const char* k) { return std::string(jwk.at(k).as_string()); };
    EXPECT_EQ(str("kty"), "RSA");
    EXPECT_EQ(str("e"), "AQAB");
    EXPECT_EQ(str("kid"), "k1");
    EXPECT_EQ(str("alg"), "RS256");
    EXPECT_EQ(str("use"), "sig");
    auto n = base64url_decode(str("n"));
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->size(), 256u);
    EXPECT_NE(static_cast<unsigned char>((*n)[0]) & 0x80, 0);
}

TEST_F(JwtVerify, HelpersThrowOnBadKeys)
{
    EXPECT_THROW(public_jwk("nope", "k"), std::runtime_error);
    EXPECT_THROW(sign_rs256("{}", "{}", "nope"), std::runtime_error);
    EXPECT_THROW(sign_rs256("{}", "{}", key().public_pem), std::runtime_error);
    EXPECT_THROW(generate_rsa_key(16), std::runtime_error);
}

}  // namespace
}  // namespace rostersync::lms_sim
