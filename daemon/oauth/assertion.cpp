#include "oauth/assertion.hpp"

#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace rostersync::oauth {
namespace {

// ---- RAII for OpenSSL objects and file descriptors ----

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

/// Leaves this thread's OpenSSL error queue empty when a public function returns.
struct err_queue_guard {
    err_queue_guard() = default;
    err_queue_guard(const err_queue_guard&) = delete;
    err_queue_guard& operator=(const err_queue_guard&) = delete;
    ~err_queue_guard() { ERR_clear_error(); }
};

struct fd_closer {
    int fd = -1;
    fd_closer(const fd_closer&) = delete;
    fd_closer& operator=(const fd_closer&) = delete;
    explicit fd_closer(int f) : fd(f) {}
    ~fd_closer()
    {
        if (fd >= 0) ::close(fd);
    }
};

constexpr std::size_t max_key_file_bytes = 1 << 20;
constexpr std::size_t ec_coordinate_bytes = 32;  // P-256

/// Never prompts for a passphrase: encrypted keys simply fail to load.
int no_password(char*, int, int, void*)
{
    return 0;
}

const unsigned char* bytes(std::string_view s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

/// The reason of the newest OpenSSL error on this thread, as " (openssl: …)" or empty.
std::string openssl_reason()
{
    unsigned long code = ERR_peek_last_error();
    if (code == 0) return {};
    const char* reason = ERR_reason_error_string(code);
    if (reason == nullptr) return {};
    return std::string(" (openssl: ") + reason + ")";
}

std::string bio_text(BIO* bio)
{
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == nullptr) return {};
    return std::string(data, static_cast<std::size_t>(n));
}

/// Big-endian bytes of a BIGNUM: minimal length (pad 0) or exactly `pad` bytes.
std::optional<std::string> bn_bytes(const BIGNUM* bn, std::size_t pad = 0)
{
    if (bn == nullptr) return std::nullopt;
    if (pad == 0) {
        std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
        if (!out.empty()) BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
        return out;
    }
    std::string out(pad, '\0');
    if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(pad)) !=
        static_cast<int>(pad))
        return std::nullopt;
    return out;
}

std::optional<std::string> bn_param(const EVP_PKEY* key, const char* name, std::size_t pad = 0)
{
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return std::nullopt;
    bn_ptr bn(raw);
    return bn_bytes(bn.get(), pad);
}

std::optional<std::string> sha256(std::string_view data)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
        return std::nullopt;
    return std::string(reinterpret_cast<const char*>(md.data()), len);
}

key_error kerr(errc e, std::string message)
{
    return key_error{.ec = make_error_code(e), .message = std::move(message)};
}

/// What a key is and how it is published, computed once when it is loaded.
struct key_facts {
    bool ec = false;
    std::string thumbprint_input;  ///< RFC 7638 canonical JSON of the required members
    boost::json::object jwk;       ///< kty and key members (kid, alg, use added later)
};

result<key_facts, key_error> inspect(const EVP_PKEY* key, std::string_view name)
{
    const std::string fix = "; use RSA of at least 2048 bits or EC P-256";
    key_facts f;
    if (EVP_PKEY_is_a(key, "RSA") == 1) {
        int bits = EVP_PKEY_get_bits(key);
        if (bits < 2048)
            return kerr(
                errc::key_unsupported,
                std::string(name) + ": RSA key of " + std::to_string(bits) + " bits" + fix
            );
        auto n = bn_param(key, OSSL_PKEY_PARAM_RSA_N);
        auto e = bn_param(key, OSSL_PKEY_PARAM_RSA_E);
        if (!n || !e || n->empty() || e->empty())
            return kerr(
                errc::key_invalid,
                std::string(name) + ": the RSA public key cannot be read" + openssl_reason()
            );
        auto n64 = base64url(*n);
        auto e64 = base64url(*e);
        f.thumbprint_input = R"({"e":")" + e64 + R"(","kty":"RSA","n":")" + n64 + R"("})";
        f.jwk["kty"] = "RSA";
        f.jwk["n"] = n64;
        f.jwk["e"] = e64;
        return f;
    }
    if (EVP_PKEY_is_a(key, "EC") == 1) {
        std::array<char, 80> group{};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &len) != 1)
            return kerr(
                errc::key_unsupported,
                std::string(name) + ": EC key without a named curve" + fix
            );
        std::string_view curve(group.data(), len);
        if (curve != "prime256v1" && curve != "P-256" && curve != "secp256r1")
            return kerr(
                errc::key_unsupported,
                std::string(name) + ": EC curve " + std::string(curve) + " is not supported" + fix
            );
        auto x = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, ec_coordinate_bytes);
        auto y = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, ec_coordinate_bytes);
        if (!x || !y)
            return kerr(
                errc::key_invalid,
                std::string(name) + ": the EC public key cannot be read" + openssl_reason()
            );
        auto x64 = base64url(*x);
        auto y64 = base64url(*y);
        f.ec = true;
        f.thumbprint_input =
            R"({"crv":"P-256","kty":"EC","x":")" + x64 + R"(","y":")" + y64 + R"("})";
        f.jwk["kty"] = "EC";
        f.jwk["crv"] = "P-256";
        f.jwk["x"] = x64;
        f.jwk["y"] = y64;
        return f;
    }
    const char* type = EVP_PKEY_get0_type_name(key);
    return kerr(
        errc::key_unsupported,
        std::string(name) + ": key type " + (type != nullptr ? type : "unknown") +
            " is not supported" + fix
    );
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

/// Text from the platform, made safe for one log line: control characters become spaces and
/// it is cut at 300 bytes.
std::string log_safe(std::string_view s)
{
    constexpr std::size_t max = 300;
    s = trim(s);
    std::string out;
    out.reserve(std::min(s.size(), max + 3));
    for (char c : s.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    if (s.size() > max) out += "...";
    return out;
}

bool contains_nocase(std::string_view hay, std::string_view needle)
{
    if (needle.size() > hay.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
        bool match = true;
        for (std::size_t j = 0; j < needle.size() && match; ++j)
            match = std::tolower(static_cast<unsigned char>(hay[i + j])) ==
                    std::tolower(static_cast<unsigned char>(needle[j]));
        if (match) return true;
    }
    return false;
}

std::string string_member(const boost::json::object& o, std::string_view key)
{
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return {};
    return std::string(v->get_string());
}

/// A positive whole number of seconds (integer or integral double), else nullopt.
std::optional<std::int64_t> positive_seconds(const boost::json::value& v)
{
    if (v.is_int64()) {
        if (v.get_int64() > 0) return v.get_int64();
        return std::nullopt;
    }
    if (v.is_uint64()) {
        // Boost.JSON only uses uint64 above INT64_MAX: not representable.
        if (v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
            return static_cast<std::int64_t>(v.get_uint64());
        return std::nullopt;
    }
    if (v.is_double()) {
        double d = v.get_double();
        if (!std::isfinite(d) || d < 1 || d != std::trunc(d) || d >= 9.0e18) return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

error_code make_ec(errc e)
{
    return make_error_code(e);
}

/// Classification of a 200 answer.
result<token_response> parse_success(std::string_view body, std::string& detail)
{
    boost::system::error_code jec;
    boost::json::value v = boost::json::parse(body, jec);
    if (jec || !v.is_object()) {
        detail = "HTTP 200: the token response is not a JSON object (" +
                 std::to_string(body.size()) + " bytes)";
        return make_ec(errc::bad_token_response);
    }
    const auto& o = v.get_object();
    const auto* token = o.if_contains("access_token");
    if (token == nullptr) {
        detail = "HTTP 200: the token response has no access_token";
        if (auto d = string_member(o, "error_description"); !d.empty())
            detail += ": " + log_safe(d);
        else if (auto e = string_member(o, "error"); !e.empty())
            detail += ": " + log_safe(e);
        return make_ec(errc::bad_token_response);
    }
    if (!token->is_string() || token->get_string().empty()) {
        detail = "HTTP 200: the token response's access_token is not a non-empty string";
        return make_ec(errc::bad_token_response);
    }
    token_response out;
    if (const auto* exp = o.if_contains("expires_in")) {
        auto secs = positive_seconds(*exp);
        if (!secs) {
            detail = "HTTP 200: the token response's expires_in is not a positive whole number";
            return make_ec(errc::bad_token_response);
        }
        out.expires_in = std::chrono::seconds(*secs);
    }
    out.access_token = std::string(token->get_string());
    out.scope = string_member(o, "scope");
    return out;
}

}  // namespace


struct signing_key::impl {
    pkey_ptr key;
    bool ec = false;
};

namespace {

/// A parsed and checked private key with its published form.
struct loaded_key {
    pkey_ptr key;
    bool ec = false;
    std::string alg;
    std::string kid;
    std::string jwk;
};

/// The common part of load_file and from_pem; `name` is the file (or "PEM text") for messages.
result<loaded_key, key_error> load_key(std::string_view pem, std::string kid, std::string_view name)
{
    err_queue_guard guard;
    if (trim(pem).empty()) return kerr(errc::key_invalid, std::string(name) + " is empty");
    if (pem.size() > max_key_file_bytes)
        return kerr(errc::key_invalid, std::string(name) + " is too large for a PEM private key");
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return kerr(errc::key_invalid, std::string(name) + ": out of memory" + openssl_reason());
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_password, nullptr));
    if (!key)
        return kerr(
            errc::key_invalid,
            std::string(name) +
                " is not a PEM private key OpenSSL can load (encrypted keys are not supported)"
        );
    auto facts = inspect(key.get(), name);
    if (!facts) return facts.error();

    loaded_key out;
    out.ec = facts->ec;
    out.alg = facts->ec ? "ES256" : "RS256";
    if (kid.empty()) {
        auto digest = sha256(facts->thumbprint_input);
        if (!digest)
            return kerr(
                errc::key_invalid,
                std::string(name) + ": the key thumbprint cannot be computed" + openssl_reason()
            );
        kid = base64url(*digest);
    }
    auto& jwk = facts->jwk;
    jwk["kid"] = kid;
    jwk["alg"] = out.alg;
    jwk["use"] = "sig";
    out.jwk = boost::json::serialize(jwk);
    out.kid = std::move(kid);
    out.key = std::move(key);
    return out;
}

/// Reads a key file after checking its mode.
result<std::string, key_error> read_key_file(const std::string& path)
{
    auto unreadable = [&](int err) {
        return kerr(errc::key_unreadable, "cannot read " + path + ": " + std::strerror(err));
    };
    auto too_open = [&] {
        return kerr(
            errc::key_permissions,
            path + " is readable by group or others; run: chmod 600 " + path
        );
    };
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return unreadable(errno);
    if (!S_ISREG(st.st_mode))
        return kerr(errc::key_unreadable, "cannot read " + path + ": not a regular file");
    if ((st.st_mode & 077) != 0) return too_open();

    fd_closer fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) return unreadable(errno);
    // The file we opened may not be the one we checked (replaced in between): check again.
    if (::fstat(fd.fd, &st) != 0) return unreadable(errno);
    if (!S_ISREG(st.st_mode))
        return kerr(errc::key_unreadable, "cannot read " + path + ": not a regular file");
    if ((st.st_mode & 077) != 0) return too_open();

    std::string text;
    std::array<char, 4096> buf{};
    for (;;) {
        ssize_t n = ::read(fd.fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return unreadable(errno);
        }
        if (n == 0) break;
        text.append(buf.data(), static_cast<std::size_t>(n));
        if (text.size() > max_key_file_bytes)
            return kerr(errc::key_invalid, path + " is too large for a PEM private key");
    }
    return text;
}

}  // namespace

void throw_exception_from_error(const key_error& e, const boost::source_location&)
{
    throw std::runtime_error(e.message.empty() ? e.ec.message() : e.message);
}

result<signing_key, key_error> signing_key::parse(std::string_view pem, std::string kid, const std::string& origin)
{
    try {
        auto loaded = load_key(pem, std::move(kid), origin);
        if (!loaded) return loaded.error();
        auto imp = std::make_shared<impl>();
        imp->key = std::move(loaded->key);
        imp->ec = loaded->ec;
        signing_key k;
        k.impl_ = std::move(imp);
        k.alg_ = std::move(loaded->alg);
        k.kid_ = std::move(loaded->kid);
        k.jwk_ = std::move(loaded->jwk);
        return k;
    } catch (const std::exception& e) {
        return kerr(errc::key_invalid, origin + ": " + e.what());
    }
}

result<signing_key, key_error> signing_key::load_file(const std::string& path, std::string kid)
{
    result<std::string, key_error> text = std::string{};
    try {
        text = read_key_file(path);
    } catch (const std::exception& e) {
        return kerr(errc::key_invalid, path + ": " + e.what());
    }
    if (!text) return text.error();
    auto k = parse(*text, std::move(kid), path);
    // Do not keep the private key's text around longer than needed.
    OPENSSL_cleanse(text->data(), text->size());
    return k;
}

result<signing_key, key_error> signing_key::from_pem(std::string_view pem, std::string kid)
{
    return parse(pem, std::move(kid), "PEM text");
}

result<std::string> signing_key::sign(std::string_view input) const
{
    err_queue_guard guard;
    const error_code failed = make_ec(errc::signing_failed);
    if (!impl_ || !impl_->key) return failed;
    try {
        md_ctx_ptr ctx(EVP_MD_CTX_new());
        EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
        if (!ctx ||
            EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, impl_->key.get()) != 1)
            return failed;
        if (!impl_->ec && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            return failed;
        std::size_t len = 0;
        if (EVP_DigestSign(ctx.get(), nullptr, &len, bytes(input), input.size()) != 1)
            return failed;
        std::string sig(len, '\0');
        if (EVP_DigestSign(
                ctx.get(),
                reinterpret_cast<unsigned char*>(sig.data()),
                &len,
                bytes(input),
                input.size()
            ) != 1)
            return failed;
        sig.resize(len);
        if (!impl_->ec) return sig;

        // ES256 (RFC 7518 3.4): the DER ECDSA-Sig-Value becomes r || s, 32 bytes each.
        const auto* der = bytes(sig);
        ecdsa_sig_ptr es(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())));
        if (!es) return failed;
        const BIGNUM* r = nullptr;
        const BIGNUM* s = nullptr;
        ECDSA_SIG_get0(es.get(), &r, &s);
        auto rb = bn_bytes(r, ec_coordinate_bytes);
        auto sb = bn_bytes(s, ec_coordinate_bytes);
        if (!rb || !sb) return failed;
        return *rb + *sb;
    } catch (const std::exception&) {
        return failed;
    }
}

// ---- the client assertion and the JWKS ----

result<std::string> make_client_assertion(const signing_key& key, const assertion_claims& claims)
{
    try {
        using std::chrono::floor;
        using std::chrono::seconds;
        const std::int64_t iat = floor<seconds>(claims.issued_at.time_since_epoch()).count();
        const std::int64_t exp = iat + claims.lifetime.count();

        boost::json::object header;
        header["alg"] = key.alg();
        header["typ"] = "JWT";
        header["kid"] = key.kid();
        boost::json::object payload;
        payload["iss"] = claims.client_id;
        payload["sub"] = claims.client_id;
        payload["aud"] = claims.audience;
        payload["iat"] = iat;
        payload["exp"] = exp;
        payload["jti"] = claims.jti;

        std::string jwt = base64url(boost::json::serialize(header));
        jwt += '.';
        jwt += base64url(boost::json::serialize(payload));
        auto sig = key.sign(jwt);
        if (!sig) return sig.error();
        jwt += '.';
        jwt += base64url(*sig);
        return jwt;
    } catch (const std::exception&) {
        return make_ec(errc::signing_failed);
    }
}

std::string jwks_document(const std::vector<signing_key>& keys)
{
    std::string out = R"({"keys":[)";
    bool first = true;
    for (const auto& k : keys) {
        if (k.public_jwk().empty()) continue;
        if (!first) out += ',';
        out += k.public_jwk();
        first = false;
    }
    out += "]}";
    return out;
}

result<generated_key, key_error> generate_key(std::string_view alg, std::string kid)
{
    err_queue_guard guard;
    try {
        pkey_ptr key;
        if (alg == "RS256")
            key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
        else if (alg == "ES256")
            key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        else
            return kerr(
                errc::key_unsupported,
                "unsupported algorithm \"" + std::string(alg) + "\"; use RS256 or ES256"
            );
        if (!key)
            return kerr(errc::key_invalid, "generating the key failed" + openssl_reason());

        generated_key out;
        bio_ptr priv(BIO_new(BIO_s_mem()));
        if (!priv || PEM_write_bio_PKCS8PrivateKey(
                         priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr
                     ) != 1)
            return kerr(errc::key_invalid, "writing the private key failed" + openssl_reason());
        out.private_pem = bio_text(priv.get());
        bio_ptr pub(BIO_new(BIO_s_mem()));
        if (!pub || PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1)
            return kerr(errc::key_invalid, "writing the public key failed" + openssl_reason());
        out.public_pem = bio_text(pub.get());
        // Wipe the memory BIO's copy of the private key before it is freed.
        {
            char* data = nullptr;
            long n = BIO_get_mem_data(priv.get(), &data);
            if (n > 0 && data != nullptr) OPENSSL_cleanse(data, static_cast<std::size_t>(n));
        }

        auto loaded = signing_key::from_pem(out.private_pem, std::move(kid));
        if (!loaded) return loaded.error();
        out.public_jwk = loaded->public_jwk();
        out.kid = loaded->kid();
        return out;
    } catch (const std::exception& e) {
        return kerr(errc::key_invalid, std::string("generating the key failed: ") + e.what());
    }
}

// ---- small helpers ----

std::string random_uuid()
{
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
        ERR_clear_error();
        // Practically unreachable; jti needs uniqueness more than secrecy.
        static std::atomic<std::uint64_t> counter{0};
        std::uint64_t mix[2] = {
            static_cast<std::uint64_t>(
                std::chrono::steady_clock::now().time_since_epoch().count()
            ),
            counter.fetch_add(1) ^
                static_cast<std::uint64_t>(
                    std::chrono::system_clock::now().time_since_epoch().count()
                ),
        };
        try {
            std::random_device rd;
            mix[0] ^= (static_cast<std::uint64_t>(rd()) << 32) | rd();
            mix[1] ^= (static_cast<std::uint64_t>(rd()) << 32) | rd();
        } catch (...) {
        }
        std::memcpy(b.data(), mix, b.size());
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += hex[b[i] >> 4];
        out += hex[b[i] & 0x0f];
    }
    return out;
}

std::string base64url(std::string_view in)
{
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto byte = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]));
    };
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    if (std::size_t rest = in.size() - i; rest == 1) {
        std::uint32_t v = byte(i) << 16;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
    } else if (rest == 2) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
    }
    return out;
}

// ---- the token endpoint's answer ----

result<token_response> parse_token_response(int status, std::string_view body, std::string& detail)
{
    try {
        detail.clear();
        if (status == 200) return parse_success(body, detail);

        const std::string http = "HTTP " + std::to_string(status);
        // The OAuth error fields, when the body is a JSON object.
        std::string error;
        std::string description;
        bool json_object = false;
        {
            boost::system::error_code jec;
            boost::json::value v = boost::json::parse(body, jec);
            if (!jec && v.is_object()) {
                json_object = true;
                error = string_member(v.get_object(), "error");
                description = string_member(v.get_object(), "error_description");
            }
        }
        if (!description.empty()) {
            detail = log_safe(description);
        } else if (!error.empty()) {
            detail = http + ": " + log_safe(error);
        } else if (!json_object && !trim(body).empty() && !contains_nocase(body, "access_token")) {
            detail = http + ": " + log_safe(body);
        } else {
            detail = http;
        }

        if (status == 429) return make_ec(errc::token_throttled);
        if (status == 403 && contains_nocase(body, "Rate Limit Exceeded"))
            return make_ec(errc::token_throttled);
        if (status >= 500 && status <= 599) return make_ec(errc::token_server_error);
        if (status == 400 || status == 401) {
            if (error == "invalid_client" || error == "invalid_request" ||
                error == "unauthorized_client")
                return make_ec(errc::client_rejected);
            if (status == 400 && error == "invalid_scope") return make_ec(errc::scope_rejected);
        }
        return make_ec(errc::grant_rejected);
    } catch (const std::exception&) {
        detail = "the token response could not be examined";
        return make_ec(errc::bad_token_response);
    }
}

}  // namespace rostersync::oauth
