#include "oauth/assertion.hpp"

#include "lms_sim/jwt_verify.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace rostersync::oauth {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* token_url = "https://canvas.test/login/oauth2/token";
constexpr const char* client_id = "10000000000001";
constexpr std::int64_t now_secs = 1'700'000'000;

// RFC 7517 appendix A.2 ("2011-04-29"), the key whose RFC 7638 section 3.1 thumbprint is
// NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs; written as PKCS#8.
constexpr const char* rfc7517_rsa_pem = R"(-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDS/HtqCh5sZxBK
64+Isldmm032ed2tCZtcSmzZqIAVtaEzvwuFbHhxtt8AC1VPzrPC7VErto8UXG6E
NHUvq1Khz8EkQI95tYpFeMFkKIVXifeiSeOEyy2fri1n/Zb7kmwZjgdzmf3IFcCv
CX3eWq3v9E3nDoJ/SHhDJDm/7rlgaNBHT8UNbZC/OpjfrxBAyJwC1pKrOzwolmCd
hv1zt3TOB0BkfO7qoxC9EvmFqOufWf3UJs6lshIPTyo0vKt2S35sVNaEAji8xAWH
pZ5m7R8ziUV3Y1xHCvdc+Swg0dpD4b/EGeIipvDQuzWMXjj5ywUK6v6QSBTxrBqk
nMqeoMqDAgMBAAECggEAX4cTteJY/gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoV
H+HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT
0/YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy/nHNKroADIkJ46pRUohsXywbReAdYaM
wFs9tv8d/cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2j
x4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL+Us2lG
VkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8QKBgQDzeL7si8wZegxcKyS/
vdMqvzrfsWI7tnbvO/yiPqltZRDIs9AFDG09WfAPbRH7rR5MOYPa6Ocy3k+ioyub
xF+Y2FVYO2OMyYIyM6lJeJwUePtc65UhhDKpVaVYSHp03foZVliT3c3wFz29jjXH
LwH1HPM4ZVDNe80S+fs7SdVt+wKBgQDd185H1y5ir7RL6aQUvOAi2AwR8XMHareF
Z6Ey4bSgK6qdve+hsvK6aqNVlA7V0it3CBOcJ2ljMFw59bmvfvQAVeOJZ+380YSK
i+ieLOEqmj1VVLvxPMWDGQh2t5xF7Oxn7WRh3+zWoNvG2QMSB8AhMAb0tScAO6fi
8hxvrJ6XGQKBgBuLD15HOmGvcvKCVvfyC4+MbqabtJc4vx+1U5EvMY+UnV93KBNK
IpmMMSItnpkwLntFDmuXaYBRsgSeHPLUNlReNNl0boCg0z/GpGIRaObQAO+0HvzZ
rbmGXNwt5tyNuBthr0ebEg8VMgDds6vC35/RFJrOq2Nzm/GHoipE4gY9AoGBALPZ
QB/X4IAbKBUfDmnNkfxNoMNvNq09pBjgIbyJZRExNXn6wOoblFLzHwXDKZ/Janlu
r8852GOUkkBe6THQv2oCN5xvCG6dQVG9CVIq2kTalHy4XEG/3fRheA4e3u+Fm0bK
G0aJ7o02DdcQmj+kzutY71q1/i9fLcV8OPeEP3IJAoGAGyM/p6JrXySiz1toFgKb
WV+JdI3jQ4ypu9rbMWx3rQJBfmt0FoYzgUIZEVFEcOqwemRN81zoDAaa+Bk0KWNG
DjJHZDdDmFhW3AN7lI+puxk/mHZGJ11rxyR8O55XLSe3SPmRfKwZI6yU24ZxvQKF
YItdldUKGzO6Ia6zTKhAVRU=
-----END PRIVATE KEY-----
)";
constexpr const char* rfc7638_thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
constexpr const char* rfc7517_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"
    "RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI"
    "SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
    "csFCur-kEgU8awapJzKnqDKgw";

// ---- OpenSSL helpers for building odd keys and checking signatures ----

template <auto Free>
struct ossl_deleter {
    template <class T>
    void operator()(T* p) const
    {
        Free(p);
    }
};
using bio_ptr = std::unique_ptr<BIO, ossl_deleter<&BIO_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter<&EVP_PKEY_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, ossl_deleter<&EVP_MD_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, ossl_deleter<&BN_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ossl_deleter<&ECDSA_SIG_free>>;

std::string bio_text(BIO* bio)
{
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string pkcs8_pem(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr, const char* pass = nullptr)
{
    bio_ptr bio(BIO_new(BIO_s_mem()));
    int passlen = pass != nullptr ? static_cast<int>(std::strlen(pass)) : 0;
    if (PEM_write_bio_PKCS8PrivateKey(
            bio.get(), key, cipher, const_cast<char*>(pass), passlen, nullptr, nullptr
        ) != 1)
        throw std::runtime_error("PEM_write_bio_PKCS8PrivateKey");
    return bio_text(bio.get());
}

std::string rsa_pem(std::size_t bits)
{
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
    if (!key) throw std::runtime_error("RSA keygen");
    return pkcs8_pem(key.get());
}

std::string ec_pem(const char* curve)
{
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
    if (!key) throw std::runtime_error("EC keygen");
    return pkcs8_pem(key.get());
}

pkey_ptr read_private(const std::string& pem)
{
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

pkey_ptr read_public(const std::string& pem)
{
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return pkey_ptr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

const unsigned char* bytes(std::string_view s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

/// Verifies a JWS ES256 signature (r || s) by converting it back to DER.
bool verify_es256(const std::string& public_pem, std::string_view input, std::string_view sig)
{
    if (sig.size() != 64) return false;
    auto key = read_public(public_pem);
    if (!key) return false;
    ecdsa_sig_ptr es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes(sig), 32, nullptr);
    BIGNUM* s = BN_bin2bn(bytes(sig) + 32, 32, nullptr);
    if (!es || r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return false;
    }
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(es.get(), &der);
    if (der_len <= 0) return false;
    std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owner(der, [](unsigned char* p) {
        OPENSSL_free(p);
    });
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
        return false;
    return EVP_DigestVerify(
               ctx.get(), der, static_cast<std::size_t>(der_len), bytes(input), input.size()
           ) == 1;
}

std::string b64d(std::string_view s)
{
    auto d = lms_sim::base64url_decode(s);
    if (!d) throw std::runtime_error("not base64url: " + std::string(s));
    return *d;
}

struct jws_parts {
    std::string header_b64, payload_b64, sig_b64;
    json::object header, payload;
    std::string signature;
};

jws_parts split_jws(const std::string& jwt)
{
    jws_parts p;
    auto d1 = jwt.find('.');
    auto d2 = jwt.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos ||
        jwt.find('.', d2 + 1) != std::string::npos)
        throw std::runtime_error("not a compact JWS");
    p.header_b64 = jwt.substr(0, d1);
    p.payload_b64 = jwt.substr(d1 + 1, d2 - d1 - 1);
    p.sig_b64 = jwt.substr(d2 + 1);
    p.header = json::parse(b64d(p.header_b64)).as_object();
    p.payload = json::parse(b64d(p.payload_b64)).as_object();
    p.signature = b64d(p.sig_b64);
    return p;
}

std::string sha256_b64url(std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return base64url(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::vector<std::string> keys_of(const json::object& o)
{
    std::vector<std::string> out;
    for (const auto& kv : o) out.emplace_back(kv.key());
    return out;
}

assertion_claims claims(std::string jti = "3f1c0f0e-6d1a-4b44-9d36-1f7e2a9f6d1b")
{
    return assertion_claims{
        .client_id = client_id,
        .audience = token_url,
        .issued_at = std::chrono::system_clock::time_point(std::chrono::seconds(now_secs)),
        .jti = std::move(jti),
    };
}

// ---- fixture: keys generated once, files in a private temporary directory ----

class OAuthKeys : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        auto rsa = generate_key("RS256");
        auto ec = generate_key("ES256");
        if (!rsa || !ec) throw std::runtime_error("generate_key failed");
        rsa_ = new generated_key(*rsa);
        ec_ = new generated_key(*ec);
        std::string tmpl = (std::filesystem::temp_directory_path() / "oauth-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
        dir_ = new std::string(tmpl);
    }
    static void TearDownTestSuite()
    {
        std::error_code ec;
        std::filesystem::remove_all(*dir_, ec);
        delete rsa_;
        delete ec_;
        delete dir_;
        rsa_ = ec_ = nullptr;
        dir_ = nullptr;
    }

    static const generated_key& rsa() { return *rsa_; }
    static const generated_key& ec() { return *ec_; }

    /// Writes `text` to a new file in the test directory with exactly `mode`.
    static std::string write_file(const std::string& name, const std::string& text, mode_t mode)
    {
        std::string path = *dir_ + "/" + name;
        ::unlink(path.c_str());
        int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw std::runtime_error("open " + path);
        auto n = ::write(fd, text.data(), text.size());
        ::fchmod(fd, mode);
        ::close(fd);
        if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("write " + path);
        return path;
    }

    static std::string dir() { return *dir_; }

    static signing_key rsa_key()
    {
        auto k = signing_key::from_pem(rsa().private_pem);
        if (!k) throw std::runtime_error(k.error().message);
        return *k;
    }
    static signing_key ec_key()
    {
        auto k = signing_key::from_pem(ec().private_pem);
        if (!k) throw std::runtime_error(k.error().message);
        return *k;
    }

private:
    static inline generated_key* rsa_ = nullptr;
    static inline generated_key* ec_ = nullptr;
    static inline std::string* dir_ = nullptr;
};

void expect_key_error(const result<signing_key, key_error>& r, errc e)
{
    ASSERT_FALSE(r.has_value()) << "expected " << make_error_code(e).message();
    EXPECT_EQ(r.error().ec, make_error_code(e)) << r.error().message;
}

// ---- loading keys ----

TEST_F(OAuthKeys, LoadsRsaKeyFileWithMode0600)
{
    auto path = write_file("rsa.pem", rsa().private_pem, 0600);
    auto k = signing_key::load_file(path);
    ASSERT_TRUE(k.has_value()) << k.error().message;
    EXPECT_EQ(k->alg(), "RS256");
    EXPECT_EQ(k->kid(), rsa().kid);
    EXPECT_EQ(k->public_jwk(), rsa().public_jwk);
}

TEST_F(OAuthKeys, LoadsEcKeyFileWithMode0600AndExplicitKid)
{
    auto path = write_file("ec.pem", ec().private_pem, 0600);
    auto k = signing_key::load_file(path, "2026-11");
    ASSERT_TRUE(k.has_value()) << k.error().message;
    EXPECT_EQ(k->alg(), "ES256");
    EXPECT_EQ(k->kid(), "2026-11");
    EXPECT_EQ(json::parse(k->public_jwk()).at("kid").as_string(), "2026-11");
}

TEST_F(OAuthKeys, ReadOnlyOwnerModeIsAccepted)
{
    auto path = write_file("rsa-0400.pem", rsa().private_pem, 0400);
    EXPECT_TRUE(signing_key::load_file(path).has_value());
}

TEST_F(OAuthKeys, GroupReadableFileIsRefusedWithChmodHint)
{
    auto path = write_file("rsa-0640.pem", rsa().private_pem, 0640);
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_permissions);
    EXPECT_EQ(
        k.error().message, path + " is readable by group or others; run: chmod 600 " + path
    );
}

TEST_F(OAuthKeys, OtherReadableFileIsRefusedWithChmodHint)
{
    auto path = write_file("rsa-0604.pem", rsa().private_pem, 0604);
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_permissions);
    EXPECT_EQ(
        k.error().message, path + " is readable by group or others; run: chmod 600 " + path
    );
    // Even group-executable only is too open.
    auto path2 = write_file("rsa-0610.pem", rsa().private_pem, 0610);
    expect_key_error(signing_key::load_file(path2), errc::key_permissions);
}

TEST_F(OAuthKeys, MissingFileIsUnreadableNamingPathAndReason)
{
    auto path = dir() + "/no-such-key.pem";
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_unreadable);
    EXPECT_NE(k.error().message.find(path), std::string::npos) << k.error().message;
    EXPECT_NE(k.error().message.find(std::strerror(ENOENT)), std::string::npos)
        << k.error().message;
}

TEST_F(OAuthKeys, DirectoryIsUnreadable)
{
    auto sub = dir() + "/a-directory";
    ::mkdir(sub.c_str(), 0700);
    auto k = signing_key::load_file(sub);
    expect_key_error(k, errc::key_unreadable);
    EXPECT_NE(k.error().message.find(sub), std::string::npos);
}

TEST_F(OAuthKeys, GarbageIsInvalidNamingThePath)
{
    auto path = write_file("garbage.pem", "this is not a key\n\x01\x02", 0600);
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_invalid);
    EXPECT_NE(k.error().message.find(path), std::string::npos) << k.error().message;

    expect_key_error(signing_key::from_pem(""), errc::key_invalid);
    expect_key_error(signing_key::from_pem("   \n"), errc::key_invalid);
    // A truncated PEM.
    expect_key_error(
        signing_key::from_pem(rsa().private_pem.substr(0, rsa().private_pem.size() / 2)),
        errc::key_invalid
    );
}

TEST_F(OAuthKeys, PublicKeyPemIsNotAPrivateKey)
{
    expect_key_error(signing_key::from_pem(rsa().public_pem), errc::key_invalid);
}

TEST_F(OAuthKeys, Rsa1024IsUnsupported)
{
    auto path = write_file("rsa1024.pem", rsa_pem(1024), 0600);
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_unsupported);
    EXPECT_NE(k.error().message.find(path), std::string::npos);
    EXPECT_NE(k.error().message.find("1024"), std::string::npos) << k.error().message;
}

TEST_F(OAuthKeys, Secp384r1IsUnsupported)
{
    auto k = signing_key::from_pem(ec_pem("secp384r1"));
    expect_key_error(k, errc::key_unsupported);
    EXPECT_NE(k.error().message.find("secp384r1"), std::string::npos) << k.error().message;
}

TEST_F(OAuthKeys, Ed25519IsUnsupported)
{
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ASSERT_TRUE(key);
    expect_key_error(signing_key::from_pem(pkcs8_pem(key.get())), errc::key_unsupported);
}

TEST_F(OAuthKeys, EncryptedKeysFailWithoutPrompting)
{
    pkey_ptr key = read_private(ec().private_pem);
    ASSERT_TRUE(key);
    // PKCS#8 "ENCRYPTED PRIVATE KEY".
    auto pkcs8 = pkcs8_pem(key.get(), EVP_aes_256_cbc(), "secret-pass");
    ASSERT_NE(pkcs8.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
    auto path = write_file("encrypted.pem", pkcs8, 0600);
    auto k = signing_key::load_file(path);
    expect_key_error(k, errc::key_invalid);
    EXPECT_NE(k.error().message.find(path), std::string::npos);

    // Traditional PEM with "Proc-Type: 4,ENCRYPTED".
    bio_ptr bio(BIO_new(BIO_s_mem()));
    unsigned char pass[] = "secret-pass";
    ASSERT_EQ(
        PEM_write_bio_PrivateKey_traditional(
            bio.get(), key.get(), EVP_aes_128_cbc(), pass, 11, nullptr, nullptr
        ),
        1
    );
    auto traditional = bio_text(bio.get());
    ASSERT_NE(traditional.find("ENCRYPTED"), std::string::npos);
    expect_key_error(signing_key::from_pem(traditional), errc::key_invalid);
}

TEST_F(OAuthKeys, ErrorValueThrowsRuntimeErrorWithMessage)
{
    auto path = write_file("rsa-0644.pem", rsa().private_pem, 0644);
    auto k = signing_key::load_file(path);
    try {
        (void)k.value();
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("chmod 600 " + path), std::string::npos);
    }
}

// ---- kid and JWK ----

TEST_F(OAuthKeys, DefaultKidIsTheRfc7638Thumbprint)
{
    auto k = signing_key::from_pem(rfc7517_rsa_pem);
    ASSERT_TRUE(k.has_value()) << k.error().message;
    EXPECT_EQ(k->kid(), rfc7638_thumbprint);
    auto jwk = json::parse(k->public_jwk()).as_object();
    EXPECT_EQ(jwk.at("n").as_string(), rfc7517_n);
    EXPECT_EQ(jwk.at("e").as_string(), "AQAB");
    EXPECT_EQ(jwk.at("kid").as_string(), rfc7638_thumbprint);
}

TEST_F(OAuthKeys, RsaJwkFields)
{
    auto k = signing_key::from_pem(rfc7517_rsa_pem, "2011-04-29");
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(
        k->public_jwk(),
        std::string(R"({"kty":"RSA","n":")") + rfc7517_n +
            R"(","e":"AQAB","kid":"2011-04-29","alg":"RS256","use":"sig"})"
    );
    // The thumbprint does not depend on the chosen kid.
    EXPECT_EQ(
        sha256_b64url(std::string(R"({"e":"AQAB","kty":"RSA","n":")") + rfc7517_n + "\"}"),
        rfc7638_thumbprint
    );
    // Same JWK as the simulator derives from the public key.
    auto sim = signing_key::from_pem(rsa().private_pem, "k1");
    ASSERT_TRUE(sim.has_value());
    EXPECT_EQ(sim->public_jwk(), lms_sim::public_jwk(rsa().public_pem, "k1"));
}

TEST_F(OAuthKeys, EcJwkFieldsAndThumbprint)
{
    auto k = ec_key();
    auto jwk = json::parse(k.public_jwk()).as_object();
    EXPECT_EQ(keys_of(jwk), (std::vector<std::string>{"kty", "crv", "x", "y", "kid", "alg", "use"}));
    EXPECT_EQ(jwk.at("kty").as_string(), "EC");
    EXPECT_EQ(jwk.at("crv").as_string(), "P-256");
    EXPECT_EQ(jwk.at("alg").as_string(), "ES256");
    EXPECT_EQ(jwk.at("use").as_string(), "sig");
    std::string x(jwk.at("x").as_string());
    std::string y(jwk.at("y").as_string());
    EXPECT_EQ(b64d(x).size(), 32u);
    EXPECT_EQ(b64d(y).size(), 32u);

    // x and y are the public point's coordinates.
    auto pub = read_public(ec().public_pem);
    ASSERT_TRUE(pub);
    for (auto [name, value] : {std::pair{OSSL_PKEY_PARAM_EC_PUB_X, x}, {OSSL_PKEY_PARAM_EC_PUB_Y, y}}) {
        BIGNUM* raw = nullptr;
        ASSERT_EQ(EVP_PKEY_get_bn_param(pub.get(), name, &raw), 1);
        bn_ptr bn(raw);
        std::string be(32, '\0');
        BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(be.data()), 32);
        EXPECT_EQ(b64d(value), be) << name;
    }
    EXPECT_EQ(
        k.kid(),
        sha256_b64url(R"({"crv":"P-256","kty":"EC","x":")" + x + R"(","y":")" + y + R"("})")
    );
    EXPECT_EQ(k.kid().size(), 43u);
}

TEST_F(OAuthKeys, RsaJwkIsCompactWithFieldsInOrder)
{
    auto k = rsa_key();
    EXPECT_EQ(k.public_jwk().find(' '), std::string::npos);
    auto jwk = json::parse(k.public_jwk()).as_object();
    EXPECT_EQ(keys_of(jwk), (std::vector<std::string>{"kty", "n", "e", "kid", "alg", "use"}));
    EXPECT_EQ(b64d(jwk.at("n").as_string()).size(), 256u);
    EXPECT_EQ(jwk.at("kid").as_string(), k.kid());
}

// ---- signing and the client assertion ----

TEST_F(OAuthKeys, Rs256AssertionVerifiesWithTheSimulatorPemKey)
{
    auto k = rsa_key();
    auto jwt = make_client_assertion(k, claims());
    ASSERT_TRUE(jwt.has_value()) << jwt.error().message();
    auto r = lms_sim::verify_client_assertion(
        {.jwt = *jwt,
         .expected_aud = token_url,
         .now = static_cast<double>(now_secs) + 10,
         .public_key_pem = rsa().public_pem}
    );
    if (const auto* e = std::get_if<lms_sim::token_error>(&r)) FAIL() << e->description;
    const auto& c = std::get<lms_sim::assertion_claims>(r);
    EXPECT_EQ(c.iss, client_id);
    EXPECT_EQ(c.sub, client_id);
    EXPECT_EQ(c.aud, std::vector<std::string>{token_url});
    EXPECT_EQ(c.iat, static_cast<double>(now_secs));
    EXPECT_EQ(c.exp, static_cast<double>(now_secs + 300));
    EXPECT_EQ(c.jti, "3f1c0f0e-6d1a-4b44-9d36-1f7e2a9f6d1b");
    EXPECT_EQ(c.alg, "RS256");
    EXPECT_EQ(c.kid, k.kid());
}

TEST_F(OAuthKeys, Rs256AssertionVerifiesAgainstOurJwksDocument)
{
    auto k = rsa_key();
    auto other = signing_key::from_pem(rfc7517_rsa_pem);
    ASSERT_TRUE(other.has_value());
    auto jwt = make_client_assertion(k, claims());
    ASSERT_TRUE(jwt.has_value());
    auto r = lms_sim::verify_client_assertion(
        {.jwt = *jwt,
         .expected_aud = token_url,
         .now = static_cast<double>(now_secs),
         .jwks_json = jwks_document({*other, k})}
    );
    if (const auto* e = std::get_if<lms_sim::token_error>(&r)) FAIL() << e->description;

    // Signed by the other key: the simulator rejects it like Canvas.
    auto wrong = make_client_assertion(*other, claims());
    ASSERT_TRUE(wrong.has_value());
    auto r2 = lms_sim::verify_client_assertion(
        {.jwt = *wrong,
         .expected_aud = token_url,
         .now = static_cast<double>(now_secs),
         .public_key_pem = rsa().public_pem}
    );
    ASSERT_TRUE(std::holds_alternative<lms_sim::token_error>(r2));
    EXPECT_EQ(std::get<lms_sim::token_error>(r2).description, "JWS signature invalid.");
}

TEST_F(OAuthKeys, AssertionHasExactlyTheDocumentedHeaderAndClaims)
{
    auto k = rsa_key();
    auto c = claims("jti-1");
    c.issued_at += 999ms;  // sub-second part is dropped
    c.lifetime = 60s;
    auto jwt = make_client_assertion(k, c);
    ASSERT_TRUE(jwt.has_value());
    auto p = split_jws(*jwt);
    EXPECT_EQ(
        b64d(p.header_b64), R"({"alg":"RS256","typ":"JWT","kid":")" + k.kid() + R"("})"
    );
    EXPECT_EQ(keys_of(p.payload), (std::vector<std::string>{"iss", "sub", "aud", "iat", "exp", "jti"}));
    EXPECT_EQ(p.payload.at("iss").as_string(), client_id);
    EXPECT_EQ(p.payload.at("sub").as_string(), client_id);
    EXPECT_EQ(p.payload.at("aud").as_string(), token_url);
    ASSERT_TRUE(p.payload.at("iat").is_int64());
    ASSERT_TRUE(p.payload.at("exp").is_int64());
    EXPECT_EQ(p.payload.at("iat").as_int64(), now_secs);
    EXPECT_EQ(p.payload.at("exp").as_int64(), now_secs + 60);
    EXPECT_EQ(p.payload.at("jti").as_string(), "jti-1");
    // No padding, URL-safe alphabet only.
    EXPECT_EQ(jwt->find_first_of("=+/"), std::string::npos);
    EXPECT_EQ(p.signature.size(), 256u);
}

TEST_F(OAuthKeys, Rs256IsDeterministicPkcs1)
{
    auto k = rsa_key();
    auto a = k.sign("input");
    auto b = k.sign("input");
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(a->size(), 256u);
    auto pub = read_public(rsa().public_pem);
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub.get()), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx.get(), bytes(*a), a->size(), bytes("input"), 5), 1);
}

TEST_F(OAuthKeys, Es256SignatureIsRawRsAndVerifies)
{
    auto k = ec_key();
    for (const std::string& input :
         std::vector<std::string>{"", "a", "header.payload", std::string(10000, 'x')}) {
        auto sig = k.sign(input);
        ASSERT_TRUE(sig.has_value());
        EXPECT_EQ(sig->size(), 64u);
        EXPECT_TRUE(verify_es256(ec().public_pem, input, *sig)) << input.size();
        EXPECT_FALSE(verify_es256(ec().public_pem, input + "!", *sig));
    }
}

TEST_F(OAuthKeys, Es256AssertionVerifies)
{
    auto k = ec_key();
    auto jwt = make_client_assertion(k, claims());
    ASSERT_TRUE(jwt.has_value());
    auto p = split_jws(*jwt);
    EXPECT_EQ(p.header.at("alg").as_string(), "ES256");
    EXPECT_EQ(p.header.at("typ").as_string(), "JWT");
    EXPECT_EQ(p.header.at("kid").as_string(), k.kid());
    EXPECT_TRUE(verify_es256(ec().public_pem, p.header_b64 + "." + p.payload_b64, p.signature));
}

TEST_F(OAuthKeys, EmptyKeyCannotSign)
{
    signing_key k;
    auto sig = k.sign("x");
    ASSERT_FALSE(sig.has_value());
    EXPECT_EQ(sig.error(), make_error_code(errc::signing_failed));
    auto jwt = make_client_assertion(k, claims());
    ASSERT_FALSE(jwt.has_value());
    EXPECT_EQ(jwt.error(), make_error_code(errc::signing_failed));
}

TEST_F(OAuthKeys, KeyIsUsableFromSeveralThreads)
{
    auto k = ec_key();
    std::vector<std::string> out(4);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < out.size(); ++i)
        threads.emplace_back([&, i] {
            for (int n = 0; n < 20; ++n) {
                auto jwt = make_client_assertion(k, claims(random_uuid()));
                if (jwt) out[i] = *jwt;
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& jwt : out) {
        auto p = split_jws(jwt);
        EXPECT_TRUE(verify_es256(ec().public_pem, p.header_b64 + "." + p.payload_b64, p.signature));
    }
}

// ---- JWKS and key generation ----

TEST_F(OAuthKeys, JwksDocumentWithTwoKeys)
{
    auto a = rsa_key();
    auto b = ec_key();
    auto doc = jwks_document({a, b});
    auto v = json::parse(doc).as_object();
    EXPECT_EQ(keys_of(v), std::vector<std::string>{"keys"});
    const auto& keys = v.at("keys").as_array();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0], json::parse(a.public_jwk()));
    EXPECT_EQ(keys[1], json::parse(b.public_jwk()));
    EXPECT_EQ(doc, R"({"keys":[)" + a.public_jwk() + "," + b.public_jwk() + "]}");
    EXPECT_EQ(jwks_document({}), R"({"keys":[]})");
}

TEST_F(OAuthKeys, GeneratedRsaKeyRoundTrips)
{
    const auto& g = rsa();
    EXPECT_TRUE(g.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    EXPECT_TRUE(g.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    auto k = signing_key::from_pem(g.private_pem);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->alg(), "RS256");
    EXPECT_EQ(k->kid(), g.kid);
    EXPECT_EQ(k->public_jwk(), g.public_jwk);
    auto key = read_private(g.private_pem);
    ASSERT_TRUE(key);
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 2048);
    // The public PEM belongs to the private key.
    EXPECT_EQ(lms_sim::public_jwk(g.public_pem, g.kid), g.public_jwk);
}

TEST_F(OAuthKeys, GeneratedEcKeyRoundTrips)
{
    const auto& g = ec();
    EXPECT_TRUE(g.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    EXPECT_TRUE(g.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    auto k = signing_key::from_pem(g.private_pem);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->alg(), "ES256");
    EXPECT_EQ(k->kid(), g.kid);
    EXPECT_EQ(k->public_jwk(), g.public_jwk);
    auto sig = k->sign("round trip");
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(verify_es256(g.public_pem, "round trip", *sig));
}

TEST_F(OAuthKeys, GenerateKeyWithKidAndUnsupportedAlgorithms)
{
    auto g = generate_key("ES256", "2026-11");
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(g->kid, "2026-11");
    EXPECT_EQ(json::parse(g->public_jwk).at("kid").as_string(), "2026-11");
    for (std::string_view alg : {"HS256", "rs256", "PS256", "ES384", "EdDSA", ""}) {
        auto bad = generate_key(alg);
        ASSERT_FALSE(bad.has_value()) << alg;
        EXPECT_EQ(bad.error().ec, make_error_code(errc::key_unsupported)) << alg;
        EXPECT_FALSE(bad.error().message.empty());
    }
}

// ---- random_uuid and base64url ----

TEST(OAuthHelpers, RandomUuidIsVersion4AndUnique)
{
    const std::regex form("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
        auto u = random_uuid();
        ASSERT_TRUE(std::regex_match(u, form)) << u;
        seen.insert(u);
    }
    EXPECT_EQ(seen.size(), 2000u);
}

TEST(OAuthHelpers, Base64urlVectors)
{
    // RFC 4648 section 10, without padding.
    EXPECT_EQ(base64url(""), "");
    EXPECT_EQ(base64url("f"), "Zg");
    EXPECT_EQ(base64url("fo"), "Zm8");
    EXPECT_EQ(base64url("foo"), "Zm9v");
    EXPECT_EQ(base64url("foob"), "Zm9vYg");
    EXPECT_EQ(base64url("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
    // The URL-safe characters.
    EXPECT_EQ(base64url(std::string("\xfb\xff", 2)), "-_8");
    EXPECT_EQ(base64url(std::string("\xff\xfe\xfd", 3)), "__79");
    EXPECT_EQ(base64url(std::string("\0\0\0", 3)), "AAAA");
    // RFC 7515 appendix A.1 header.
    EXPECT_EQ(
        base64url("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"),
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    );
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t len = 0; len <= all.size(); len += 17) {
        auto enc = base64url(all.substr(0, len));
        auto dec = lms_sim::base64url_decode(enc);
        ASSERT_TRUE(dec.has_value());
        EXPECT_EQ(*dec, all.substr(0, len));
    }
}

// ---- token endpoint answers ----

result<token_response> parse(int status, std::string_view body, std::string& detail)
{
    return parse_token_response(status, body, detail);
}

void expect_error(int status, std::string_view body, errc e, std::string_view detail_expected = {})
{
    std::string detail = "stale";
    auto r = parse(status, body, detail);
    ASSERT_FALSE(r.has_value()) << status << " " << body;
    EXPECT_EQ(r.error(), make_error_code(e)) << status << " " << body << ": "
                                             << r.error().message();
    EXPECT_FALSE(detail.empty());
    EXPECT_NE(detail, "stale");
    if (!detail_expected.empty()) {
        EXPECT_EQ(detail, detail_expected) << body;
    }
}

std::string canvas_error(std::string_view error, std::string_view description)
{
    return json::serialize(json::object{{"error", error}, {"error_description", description}});
}

TEST(OAuthTokenResponse, CanvasSuccess)
{
    std::string detail = "stale";
    auto r = parse(
        200,
        R"({"access_token":"eyJ.tok.en","token_type":"Bearer","expires_in":3600,)"
        R"("scope":"https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"})",
        detail
    );
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->access_token, "eyJ.tok.en");
    EXPECT_EQ(r->expires_in, 3600s);
    EXPECT_EQ(r->scope, "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly");
    EXPECT_EQ(detail.find("eyJ.tok.en"), std::string::npos);
}

TEST(OAuthTokenResponse, ExpiresInDefaultsAndForms)
{
    std::string detail;
    auto absent = parse(200, R"({"access_token":"t"})", detail);
    ASSERT_TRUE(absent.has_value());
    EXPECT_EQ(absent->expires_in, 3600s);
    EXPECT_EQ(absent->scope, "");

    auto dbl = parse(200, R"({"access_token":"t","expires_in":1800.0,"scope":"a b"})", detail);
    ASSERT_TRUE(dbl.has_value());
    EXPECT_EQ(dbl->expires_in, 1800s);
    EXPECT_EQ(dbl->scope, "a b");

    auto one = parse(200, R"({"access_token":"t","expires_in":1})", detail);
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->expires_in, 1s);
}

TEST(OAuthTokenResponse, BadExpiresInIsBadTokenResponseWithoutLeakingTheToken)
{
    for (std::string_view exp : {"0", "-5", "0.0", "3599.5", "\"3600\"", "null", "true", "[]",
                                 "{}", "1e300", "18446744073709551615"}) {
        std::string body = std::string(R"({"access_token":"SECRET-TOKEN","expires_in":)") +
                           std::string(exp) + "}";
        std::string detail;
        auto r = parse(200, body, detail);
        ASSERT_FALSE(r.has_value()) << exp;
        EXPECT_EQ(r.error(), make_error_code(errc::bad_token_response)) << exp;
        EXPECT_EQ(detail.find("SECRET-TOKEN"), std::string::npos) << detail;
        EXPECT_FALSE(detail.empty());
    }
}

TEST(OAuthTokenResponse, MissingOrNonStringAccessToken)
{
    for (std::string_view body :
         {R"({"token_type":"Bearer","expires_in":3600})",
          R"({"access_token":12345,"expires_in":3600})",
          R"({"access_token":null})",
          R"({"access_token":{"v":"SECRET-TOKEN"}})",
          R"({"access_token":["SECRET-TOKEN"]})",
          R"({"access_token":""})",
          R"(["SECRET-TOKEN"])",
          R"("SECRET-TOKEN")",
          R"({"access_token": )",
          R"({"access_token":"SECRET-TOKEN")",
          "access_token=SECRET-TOKEN&expires_in=3600",
          ""}) {
        std::string detail;
        auto r = parse(200, body, detail);
        ASSERT_FALSE(r.has_value()) << body;
        EXPECT_EQ(r.error(), make_error_code(errc::bad_token_response)) << body;
        EXPECT_TRUE(is_retryable(r.error()));
        EXPECT_EQ(detail.find("SECRET-TOKEN"), std::string::npos) << detail;
        EXPECT_FALSE(detail.empty()) << body;
    }
}

TEST(OAuthTokenResponse, CanvasClientErrorsAreClientRejected)
{
    // canvas-nrps.md 4.4, with Canvas's exact descriptions.
    expect_error(401, canvas_error("invalid_client", "unknown client"), errc::client_rejected,
                 "unknown client");
    for (std::string_view description : {
             "JWS signature invalid.",
             "JWK Error: Invalid JSON",
             "JWK Error: Could not find a JWK with kid k1",
             "the following assertions are missing: sub,aud,exp,iat,jti,iss",
             "the 'aud' is invalid",
             "the JWT has expired",
             "the 'iat' must be less than 300 seconds old",
             "the 'iat' must not be in the future",
             "assertion method not supported for this grant_type",
         })
        expect_error(400, canvas_error("invalid_request", description), errc::client_rejected,
                     description);
    expect_error(400, canvas_error("unauthorized_client", "nope"), errc::client_rejected, "nope");
    expect_error(401, canvas_error("invalid_request", "x"), errc::client_rejected, "x");
    std::string detail;
    auto r = parse(400, canvas_error("invalid_request", "JWS signature invalid."), detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(is_configuration_error(r.error()));
    EXPECT_FALSE(is_retryable(r.error()));
}

TEST(OAuthTokenResponse, CanvasInvalidScope)
{
    const std::string description =
        "A requested scope is invalid, unknown, malformed, or exceeds the scope granted by the "
        "resource owner. The following scopes were requested, but not granted: "
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
    expect_error(400, canvas_error("invalid_scope", description), errc::scope_rejected,
                 description);
    std::string detail;
    auto r = parse(400, canvas_error("invalid_scope", description), detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(is_configuration_error(r.error()));
}

TEST(OAuthTokenResponse, CanvasUnsupportedGrantTypeAndOther4xx)
{
    expect_error(
        400,
        canvas_error("unsupported_grant_type", "The grant_type you requested is not currently supported"),
        errc::grant_rejected,
        "The grant_type you requested is not currently supported"
    );
    expect_error(400, R"({"error":"invalid_grant"})", errc::grant_rejected);
    expect_error(400, "<html>Bad Request</html>", errc::grant_rejected);
    expect_error(401, "", errc::grant_rejected, "HTTP 401");
    expect_error(403, "Forbidden", errc::grant_rejected);
    expect_error(404, "Not Found", errc::grant_rejected);
    expect_error(302, "", errc::grant_rejected);
    expect_error(201, R"({"access_token":"SECRET-TOKEN"})", errc::grant_rejected);
    expect_error(0, "", errc::grant_rejected);
    std::string detail;
    auto r = parse(404, "", detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(is_configuration_error(r.error()));
}

TEST(OAuthTokenResponse, ThrottlingInBothCanvasForms)
{
    expect_error(403, "403 Forbidden (Rate Limit Exceeded)\n", errc::token_throttled,
                 "HTTP 403: 403 Forbidden (Rate Limit Exceeded)");
    expect_error(429, "429 Too Many Requests (Rate Limit Exceeded)\n", errc::token_throttled);
    expect_error(429, "", errc::token_throttled, "HTTP 429");
    expect_error(429, canvas_error("invalid_request", "slow down"), errc::token_throttled);
    std::string detail;
    auto r = parse(429, "", detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(is_retryable(r.error()));
    EXPECT_FALSE(is_configuration_error(r.error()));
}

TEST(OAuthTokenResponse, ServerErrors)
{
    for (int status : {500, 502, 503, 504, 599})
        expect_error(status, "<html>oops</html>", errc::token_server_error);
    expect_error(503, canvas_error("temporarily_unavailable", "maintenance"),
                 errc::token_server_error, "maintenance");
    std::string detail;
    auto r = parse(500, "", detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_TRUE(is_retryable(r.error()));
}

TEST(OAuthTokenResponse, DetailIsOneSafeLine)
{
    std::string detail;
    auto r = parse(500, std::string(5000, 'x') + "\n\x01" + "tail", detail);
    ASSERT_FALSE(r.has_value());
    EXPECT_LT(detail.size(), 400u);
    EXPECT_EQ(detail.find('\n'), std::string::npos);
    // A non-JSON error body that mentions access_token is not echoed.
    auto r2 = parse(502, "access_token=SECRET-TOKEN", detail);
    ASSERT_FALSE(r2.has_value());
    EXPECT_EQ(detail.find("SECRET-TOKEN"), std::string::npos) << detail;
    // Success clears a stale detail.
    detail = "old";
    ASSERT_TRUE(parse(200, R"({"access_token":"t"})", detail).has_value());
    EXPECT_EQ(detail, "");
}

}  // namespace
}  // namespace rostersync::oauth
