#include "lms_sim/jwt_verify.hpp"

#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace rostersync::lms_sim {
namespace {

// ---- RAII for OpenSSL objects ----

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
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, ossl_deleter<&EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, ossl_deleter<&EVP_MD_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, ossl_deleter<&BN_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, ossl_deleter<&OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, ossl_deleter<&OSSL_PARAM_free>>;

/// Leaves this thread's OpenSSL error queue empty when a public function returns, so a failed
/// parse or verify does not leak stale errors into unrelated OpenSSL calls later.
struct err_queue_guard {
    err_queue_guard() = default;
    err_queue_guard(const err_queue_guard&) = delete;
    err_queue_guard& operator=(const err_queue_guard&) = delete;
    ~err_queue_guard() { ERR_clear_error(); }
};

[[noreturn]] void fail(const char* step)
{
    std::string msg = std::string("jwt_verify: ") + step + " failed";
    if (unsigned long code = ERR_get_error(); code != 0) {
        std::array<char, 256> buf{};
        ERR_error_string_n(code, buf.data(), buf.size());
        msg += ": ";
        msg += buf.data();
    }
    ERR_clear_error();
    throw std::runtime_error(msg);
}

/// Never prompts for a passphrase: encrypted keys simply fail to load.
int no_password(char*, int, int, void*)
{
    return 0;
}

bio_ptr mem_bio(std::string_view text)
{
    if (text.size() > static_cast<std::size_t>(INT32_MAX)) return nullptr;
    return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_text(BIO* bio)
{
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == nullptr) return {};
    return std::string(data, static_cast<std::size_t>(n));
}

pkey_ptr read_public_pem(std::string_view pem)
{
    auto bio = mem_bio(pem);
    if (!bio) return nullptr;
    return pkey_ptr(PEM_read_bio_PUBKEY(bio.get(), nullptr, &no_password, nullptr));
}

pkey_ptr read_private_pem(std::string_view pem)
{
    auto bio = mem_bio(pem);
    if (!bio) return nullptr;
    return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_password, nullptr));
}

bool is_rsa(const EVP_PKEY* key)
{
    return key != nullptr && EVP_PKEY_is_a(key, "RSA") == 1;
}

std::string bn_bytes(const BIGNUM* bn)
{
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    if (!out.empty()) BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

const unsigned char* bytes(std::string_view s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

// ---- base64url ----

constexpr std::string_view b64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

// ---- JSON helpers (never throw) ----

std::optional<boost::json::value> parse_json(std::string_view text)
{
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec) return std::nullopt;
    return v;
}

const boost::json::value* member(const boost::json::object& o, std::string_view key)
{
    return o.if_contains(key);
}

/// A non-empty string member, else nullopt.
std::optional<std::string> string_member(const boost::json::object& o, std::string_view key)
{
    const auto* v = member(o, key);
    if (v == nullptr || !v->is_string() || v->get_string().empty()) return std::nullopt;
    return std::string(v->get_string());
}

/// A numeric member (integer or floating), else nullopt.
std::optional<double> number_member(const boost::json::object& o, std::string_view key)
{
    const auto* v = member(o, key);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    if (v->is_double()) return v->get_double();
    return std::nullopt;
}

// ---- compact JWS ----

struct parsed_jws {
    assertion_claims claims;
    bool has_iss = false;
    bool has_sub = false;
    bool has_jti = false;
    bool has_aud = false;
    bool has_iat = false;
    bool has_exp = false;
    std::string_view signing_input;  ///< "header.payload", as sent
    std::string signature;           ///< decoded
};

std::optional<parsed_jws> parse_jws(std::string_view jwt)
{
    auto dot1 = jwt.find('.');
    if (dot1 == std::string_view::npos) return std::nullopt;
    auto dot2 = jwt.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return std::nullopt;
    if (jwt.find('.', dot2 + 1) != std::string_view::npos) return std::nullopt;

    auto header_text = base64url_decode(jwt.substr(0, dot1));
    auto payload_text = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = base64url_decode(jwt.substr(dot2 + 1));
    if (!header_text || !payload_text || !signature) return std::nullopt;

    auto header = parse_json(*header_text);
    auto payload = parse_json(*payload_text);
    if (!header || !header->is_object() || !payload || !payload->is_object()) return std::nullopt;
    const auto& h = header->get_object();
    const auto& p = payload->get_object();

    parsed_jws out;
    out.signing_input = jwt.substr(0, dot2);
    out.signature = std::move(*signature);
    auto& c = out.claims;
    if (const auto* v = member(h, "kid"); v != nullptr && v->is_string())
        c.kid = std::string(v->get_string());
    if (const auto* v = member(h, "alg"); v != nullptr && v->is_string())
        c.alg = std::string(v->get_string());

    auto take_string = [&](std::string_view key, std::string& into, bool& present) {
        if (auto s = string_member(p, key)) {
            into = std::move(*s);
            present = true;
        }
    };
    auto take_number = [&](std::string_view key, double& into, bool& present) {
        if (auto n = number_member(p, key)) {
            into = *n;
            present = true;
        }
    };
    take_string("iss", c.iss, out.has_iss);
    take_string("sub", c.sub, out.has_sub);
    take_string("jti", c.jti, out.has_jti);
    take_number("iat", c.iat, out.has_iat);
    take_number("exp", c.exp, out.has_exp);
    if (const auto* aud = member(p, "aud")) {
        if (aud->is_string()) {
            c.aud.emplace_back(aud->get_string());
            out.has_aud = true;
        } else if (aud->is_array()) {
            for (const auto& a : aud->get_array())
                if (a.is_string()) c.aud.emplace_back(a.get_string());
            out.has_aud = true;
        }
    }
    return out;
}

// ---- keys ----

token_error invalid_request(std::string description)
{
    return token_error{
        .status = 400, .error = "invalid_request", .description = std::move(description)};
}

token_error signature_invalid()
{
    return invalid_request("JWS signature invalid.");
}

/// A JWK (already matched by kid) to an RSA public key, or the "JWK Error: …" explaining why not.
std::variant<pkey_ptr, token_error> key_from_jwk(const boost::json::object& jwk)
{
    const auto* kty = member(jwk, "kty");
    if (kty == nullptr || !kty->is_string() || kty->get_string().empty())
        return invalid_request("JWK Error: Key type (kty) not provided");
    if (kty->get_string() != "RSA")
        return invalid_request(
            "JWK Error: Key type " + std::string(kty->get_string()) + " not supported"
        );

    bn_ptr n;
    bn_ptr e;
    for (const char* name : {"n", "e"}) {
        const auto* v = member(jwk, name);
        if (v == nullptr)
            return invalid_request(std::string("JWK Error: RSA key is missing ") + name);
        std::optional<std::string> raw;
        if (v->is_string()) raw = base64url_decode(v->get_string());
        if (!raw || raw->empty())
            return invalid_request(
                std::string("JWK Error: RSA key ") + name + " is not a base64url string"
            );
        if (raw->size() > static_cast<std::size_t>(INT32_MAX))
            return invalid_request(std::string("JWK Error: RSA key ") + name + " is too large");
        bn_ptr bn(BN_bin2bn(bytes(*raw), static_cast<int>(raw->size()), nullptr));
        if (!bn) return invalid_request("JWK Error: RSA key could not be built");
        (name[0] == 'n' ? n : e) = std::move(bn);
    }

    param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
        return invalid_request("JWK Error: RSA key could not be built");
    params_ptr params(OSSL_PARAM_BLD_to_param(bld.get()));
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* raw_key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw_key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return invalid_request("JWK Error: RSA key could not be built");
    return pkey_ptr(raw_key);
}

/// Canvas's key lookup: the JWK set when one is given (matched by the header's kid), otherwise
/// the static PEM key.
std::variant<pkey_ptr, token_error> select_key(const verify_input& in, const std::string& kid)
{
    if (!in.jwks_json.empty()) {
        auto set = parse_json(in.jwks_json);
        if (!set) return invalid_request("JWK Error: Invalid JSON");
        if (kid.empty()) return invalid_request("JWK Error: No key id (kid) in the JWT header");
        const boost::json::array* keys = nullptr;
        if (set->is_object())
            if (const auto* k = member(set->get_object(), "keys"); k != nullptr && k->is_array())
                keys = &k->get_array();
        if (keys != nullptr) {
            for (const auto& k : *keys) {
                if (!k.is_object()) continue;
                const auto* key_kid = member(k.get_object(), "kid");
                if (key_kid != nullptr && key_kid->is_string() && key_kid->get_string() == kid)
                    return key_from_jwk(k.get_object());
            }
        }
        return invalid_request("JWK Error: Could not find a JWK with kid " + kid);
    }
    if (in.public_key_pem.empty()) return signature_invalid();
    auto key = read_public_pem(in.public_key_pem);
    if (!is_rsa(key.get())) return signature_invalid();
    return key;
}

bool verify_rs256(EVP_PKEY* key, std::string_view signing_input, std::string_view signature)
{
    if (signature.empty()) return false;
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
    return EVP_DigestVerify(
               ctx.get(),
               bytes(signature),
               signature.size(),
               bytes(signing_input),
               signing_input.size()
           ) == 1;
}

std::string missing_claims(const parsed_jws& j)
{
    std::string out;
    auto add = [&](bool present, const char* name) {
        if (present) return;
        if (!out.empty()) out += ',';
        out += name;
    };
    add(j.has_sub, "sub");
    add(j.has_aud, "aud");
    add(j.has_exp, "exp");
    add(j.has_iat, "iat");
    add(j.has_jti, "jti");
    add(j.has_iss, "iss");
    return out;
}

}  // namespace

std::optional<assertion_claims> peek_assertion(std::string_view jwt)
{
    auto parsed = parse_jws(jwt);
    if (!parsed) return std::nullopt;
    return std::move(parsed->claims);
}

std::variant<assertion_claims, token_error> verify_client_assertion(const verify_input& in)
{
    err_queue_guard guard;
    auto parsed = parse_jws(in.jwt);
    if (!parsed) return signature_invalid();
    auto& claims = parsed->claims;

    auto key = select_key(in, claims.kid);
    if (auto* err = std::get_if<token_error>(&key)) return std::move(*err);
    if (claims.alg != "RS256") return signature_invalid();
    if (!verify_rs256(std::get<pkey_ptr>(key).get(), parsed->signing_input, parsed->signature))
        return signature_invalid();

    if (auto missing = missing_claims(*parsed); !missing.empty())
        return invalid_request("the following assertions are missing: " + missing);
    bool aud_ok = false;
    for (const auto& a : claims.aud) aud_ok = aud_ok || a == in.expected_aud;
    if (!aud_ok) return invalid_request("the 'aud' is invalid");
    if (claims.exp <= in.now) return invalid_request("the JWT has expired");
    if (claims.iat < in.now - 300)
        return invalid_request("the 'iat' must be less than 300 seconds old");
    if (claims.iat > in.now + 30) return invalid_request("the 'iat' must not be in the future");
    return std::move(claims);
}

rsa_key_pair generate_rsa_key(int bits)
{
    err_queue_guard guard;
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) fail("EVP_PKEY_keygen_init");
    if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) != 1)
        fail("EVP_PKEY_CTX_set_rsa_keygen_bits");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &raw) != 1) fail("EVP_PKEY_generate");
    pkey_ptr key(raw);

    rsa_key_pair out;
    bio_ptr priv(BIO_new(BIO_s_mem()));
    if (!priv ||
        PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("PEM_write_bio_PrivateKey");
    out.private_pem = bio_text(priv.get());
    bio_ptr pub(BIO_new(BIO_s_mem()));
    if (!pub || PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) fail("PEM_write_bio_PUBKEY");
    out.public_pem = bio_text(pub.get());
    return out;
}

std::string public_jwk(const std::string& public_pem, const std::string& kid)
{
    err_queue_guard guard;
    auto key = read_public_pem(public_pem);
    if (!key) fail("PEM_read_bio_PUBKEY");
    if (!is_rsa(key.get())) throw std::runtime_error("jwt_verify: public_jwk needs an RSA key");
    BIGNUM* raw_n = nullptr;
    BIGNUM* raw_e = nullptr;
    if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &raw_n) != 1) fail("get n");
    bn_ptr n(raw_n);
    if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &raw_e) != 1) fail("get e");
    bn_ptr e(raw_e);

    boost::json::object jwk;
    jwk["kty"] = "RSA";
    jwk["n"] = base64url_encode(bn_bytes(n.get()));
    jwk["e"] = base64url_encode(bn_bytes(e.get()));
    jwk["kid"] = kid;
    jwk["alg"] = "RS256";
    jwk["use"] = "sig";
    return boost::json::serialize(jwk);
}

std::string sign_rs256(
    std::string_view header_json, std::string_view payload_json, const std::string& private_pem
)
{
    err_queue_guard guard;
    auto key = read_private_pem(private_pem);
    if (!key) fail("PEM_read_bio_PrivateKey");
    if (!is_rsa(key.get())) throw std::runtime_error("jwt_verify: sign_rs256 needs an RSA key");

    std::string out = base64url_encode(header_json);
    out += '.';
    out += base64url_encode(payload_json);

    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
        fail("EVP_DigestSignInit");
    std::size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, bytes(out), out.size()) != 1)
        fail("EVP_DigestSign (length)");
    std::string sig(len, '\0');
    if (EVP_DigestSign(
            ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes(out), out.size()
        ) != 1)
        fail("EVP_DigestSign");
    sig.resize(len);

    out += '.';
    out += base64url_encode(sig);
    return out;
}

std::string base64url_encode(std::string_view bytes_in)
{
    std::string out;
    out.reserve((bytes_in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes_in[k]));
    };
    for (; i + 3 <= bytes_in.size(); i += 3) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += b64url_alphabet[v >> 18 & 63];
        out += b64url_alphabet[v >> 12 & 63];
        out += b64url_alphabet[v >> 6 & 63];
        out += b64url_alphabet[v & 63];
    }
    std::size_t rest = bytes_in.size() - i;
    if (rest == 1) {
        std::uint32_t v = byte(i) << 16;
        out += b64url_alphabet[v >> 18 & 63];
        out += b64url_alphabet[v >> 12 & 63];
    } else if (rest == 2) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
        out += b64url_alphabet[v >> 18 & 63];
        out += b64url_alphabet[v >> 12 & 63];
        out += b64url_alphabet[v >> 6 & 63];
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text)
{
    // Unpadded is the norm (RFC 7515 §2); correct '=' padding to a multiple of 4 is tolerated.
    if (text.size() % 4 == 0 && !text.empty() && text.back() == '=') {
        text.remove_suffix(1);
        if (text.back() == '=') text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) return std::nullopt;

    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = b64url_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6 | static_cast<std::uint32_t>(v)) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xFF);
        }
    }
    // The leftover bits of a final partial group must be zero (canonical encoding only).
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace rostersync::lms_sim
