#pragma once
// File: lms_sim/jwt_verify.hpp
//
// The simulator's side of LTI Advantage client credentials (reference canvas-nrps.md 4.2, 4.4):
// verifying the tool's client assertion for real (RS256 against a registered PEM public key or a
// JWK set) and answering with Canvas's exact errors. Also the test-side helpers to make keys and
// sign assertions, so tests can produce valid and broken assertions.
//
// Pure functions over OpenSSL 3 (EVP APIs); thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rostersync::lms_sim {

/// A token-endpoint error as Canvas sends it: HTTP status and the OAuth JSON fields.
struct token_error {
    int status = 400;
    std::string error;        ///< "invalid_request", "invalid_client", "invalid_scope", …
    std::string description;  ///< error_description

    bool operator==(const token_error&) const = default;
};

/// The claims of a verified (or peeked) client assertion.
struct assertion_claims {
    std::string iss;
    std::string sub;
    std::string jti;
    std::string kid;                ///< from the JOSE header
    std::string alg;                ///< from the JOSE header
    std::vector<std::string> aud;   ///< a string aud becomes one entry
    double iat = 0;
    double exp = 0;
};

/// Decodes header and payload without verifying anything (Canvas reads `sub` first to find the
/// developer key). nullopt when the text is not a compact JWS with JSON header and payload.
std::optional<assertion_claims> peek_assertion(std::string_view jwt);

struct verify_input {
    std::string_view jwt;
    std::string expected_aud;      ///< "<proto>://<host>/login/oauth2/token": aud must contain it
    double now = 0;                ///< seconds since the epoch
    std::string public_key_pem;    ///< a static key; or else:
    std::string jwks_json;         ///< a JWK set {"keys":[{kty,n,e,kid,alg,use}]}, matched by kid
};

/// Verifies signature and claims in Canvas's order and with Canvas's messages:
///   no usable key / bad signature / alg not RS256 -> 400 invalid_request "JWS signature invalid."
///   JWK set not JSON                              -> 400 invalid_request "JWK Error: Invalid JSON"
///   no JWK with the assertion's kid               -> 400 invalid_request "JWK Error: <message>"
///   claims missing -> "the following assertions are missing: <names in order sub,aud,exp,iat,jti,iss>"
///   aud            -> "the 'aud' is invalid"
///   exp passed     -> "the JWT has expired"
///   iat too old    -> "the 'iat' must be less than 300 seconds old"
///   iat > now + 30 -> "the 'iat' must not be in the future"
std::variant<assertion_claims, token_error> verify_client_assertion(const verify_input& in);

// ---- test-side helpers ----

struct rsa_key_pair {
    std::string private_pem;  ///< PKCS#8
    std::string public_pem;   ///< SubjectPublicKeyInfo
};

rsa_key_pair generate_rsa_key(int bits = 2048);

/// A JWK (JSON object text) for a PEM public key: {"kty":"RSA","n":…,"e":…,"kid":…,"alg":"RS256","use":"sig"}.
std::string public_jwk(const std::string& public_pem, const std::string& kid);

/// header.payload.signature with RS256 over the given JSON texts (used as is, so tests can send
/// odd headers such as "alg":"none").
std::string sign_rs256(std::string_view header_json, std::string_view payload_json,
                       const std::string& private_pem);

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace rostersync::lms_sim
