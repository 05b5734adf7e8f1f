#pragma once
// File: oauth/assertion.hpp
//
// The tool's side of LTI Advantage client credentials (reference canvas-nrps.md section 4):
// signing keys (PEM files, RS256 or ES256), the client-assertion JWT, the JWKS document the
// daemon serves, new key pairs for `rostersync keygen`, and parsing the token endpoint's answer.
// OpenSSL 3 EVP APIs only. Pure apart from reading key files; thread-safe (a key is immutable
// after loading and may be shared across threads).
//
//     auto key = oauth::signing_key::load_file("/etc/rostersync/tool-key.pem", "2026-11");
//     auto jwt = oauth::make_client_assertion(*key, {.client_id = "10000000000001",
//                                                   .audience = "https://sso.canvaslms.com/login/oauth2/token",
//                                                   .issued_at = now, .jti = uuid});

#include "common/error.hpp"
#include "oauth/error.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::oauth {

/// A problem with a detail that names the file and the fix ("chmod 600 /etc/…/tool-key.pem").
struct key_error {
    error_code ec;
    std::string message;
};

[[noreturn]] void throw_exception_from_error(const key_error& e, const boost::source_location& loc);

class signing_key {
public:
    /// Loads a PEM private key file. Refuses a file readable by group or others (mode & 077),
    /// naming the file and `chmod 600`. RSA keys below 2048 bits and curves other than P-256 are
    /// key_unsupported. `kid` empty: the RFC 7638 JWK thumbprint (base64url SHA-256) is used.
    static result<signing_key, key_error> load_file(const std::string& path, std::string kid = {});
    /// The same from PEM text (no permission check).
    static result<signing_key, key_error> from_pem(std::string_view pem, std::string kid = {});

    const std::string& alg() const { return alg_; }   ///< "RS256" or "ES256"
    const std::string& kid() const { return kid_; }
    /// The public JWK as a JSON object text: kty, n/e or crv/x/y, kid, alg, use "sig".
    const std::string& public_jwk() const { return jwk_; }
    /// Signature of `input` in JWS form (RS256: PKCS#1 v1.5; ES256: 64-byte r||s).
    result<std::string> sign(std::string_view input) const;

private:
    /// Both loaders end here; `origin` (the path, or "PEM text") prefixes messages.
    static result<signing_key, key_error> parse(std::string_view pem, std::string kid, const std::string& origin);

    struct impl;
    std::shared_ptr<const impl> impl_;
    std::string alg_, kid_, jwk_;
};

struct assertion_claims {
    std::string client_id;                            ///< iss and sub
    std::string audience;                             ///< the token URL
    std::chrono::system_clock::time_point issued_at;  ///< iat
    std::chrono::seconds lifetime{300};               ///< exp = iat + lifetime
    std::string jti;                                  ///< unique per assertion
};

/// header {"alg","typ":"JWT","kid"} . payload {"iss","sub","aud","iat","exp","jti"} . signature
result<std::string> make_client_assertion(const signing_key& key, const assertion_claims& claims);

/// {"keys":[jwk, …]} for /.well-known/jwks.json (rotation: several keys).
std::string jwks_document(const std::vector<signing_key>& keys);

/// A new key pair for `rostersync keygen`: PKCS#8 private PEM and the public JWK.
struct generated_key {
    std::string private_pem;
    std::string public_pem;
    std::string public_jwk;
    std::string kid;
};
result<generated_key, key_error> generate_key(std::string_view alg = "RS256", std::string kid = {});

/// A random 128-bit identifier in UUID form, for `jti`.
std::string random_uuid();

/// base64url without padding.
std::string base64url(std::string_view bytes);

struct token_response {
    std::string access_token;
    std::chrono::seconds expires_in{3600};
    std::string scope;                      ///< as granted (space-separated); may be empty
};

/// Classifies the token endpoint's answer (status, body, Content-Type as received):
///   200 with a string access_token and a positive numeric expires_in (default 3600 when absent)
///       -> token_response; otherwise bad_token_response
///   400/401 {"error": "invalid_client" | "invalid_request" | "unauthorized_client"} -> client_rejected
///   400 {"error": "invalid_scope"} -> scope_rejected
///   429, or 403 with "Rate Limit Exceeded" in the body -> token_throttled
///   5xx -> token_server_error; any other status -> grant_rejected
/// `detail` receives the platform's error_description (or a summary) for the log; never the token.
result<token_response> parse_token_response(int status, std::string_view body, std::string& detail);

}  // namespace rostersync::oauth
