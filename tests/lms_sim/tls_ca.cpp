#include "lms_sim/tls_ca.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <string_view>

namespace rostersync::lms_sim {
namespace {

// ---- RAII ----

template <auto Free>
struct openssl_deleter {
    template <typename T>
    void operator()(T* p) const noexcept
    {
        Free(p);
    }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<&EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<&X509_free>>;
using name_ptr = std::unique_ptr<X509_NAME, openssl_deleter<&X509_NAME_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<&BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<&BN_free>>;
using asn1_int_ptr = std::unique_ptr<ASN1_INTEGER, openssl_deleter<&ASN1_INTEGER_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<&X509_EXTENSION_free>>;
using gen_name_ptr = std::unique_ptr<GENERAL_NAME, openssl_deleter<&GENERAL_NAME_free>>;
using ia5_ptr = std::unique_ptr<ASN1_IA5STRING, openssl_deleter<&ASN1_IA5STRING_free>>;
using octets_ptr = std::unique_ptr<ASN1_OCTET_STRING, openssl_deleter<&ASN1_OCTET_STRING_free>>;

struct gen_names_deleter {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
using gen_names_ptr = std::unique_ptr<GENERAL_NAMES, gen_names_deleter>;

// ---- errors ----

/// Throws naming `step`, with every queued OpenSSL error (the queue is drained, so a later call on
/// this thread does not report stale errors).
[[noreturn]] void fail(std::string_view step)
{
    std::string msg = "tls_ca: ";
    msg += step;
    msg += " failed";
    bool first = true;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        msg += first ? ": " : "; ";
        msg += buf;
        first = false;
    }
    throw std::runtime_error(msg);
}

void check(int ok, std::string_view step)
{
    if (ok <= 0) fail(step);
}

template <typename P>
P checked(P p, std::string_view step)
{
    if (!p) fail(step);
    return p;
}

// ---- hosts ----

struct san_entry {
    bool is_ip = false;
    std::string value;         ///< the DNS name, or the IP literal as given (without brackets)
    unsigned char ip[16] = {};  ///< network order
    int ip_len = 0;            ///< 4 or 16 when is_ip
};

bool dns_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '*';
}

san_entry classify(const std::string& host)
{
    san_entry e;
    std::string literal = host;
    if (literal.size() > 2 && literal.front() == '[' && literal.back() == ']')
        literal = literal.substr(1, literal.size() - 2);  // "[::1]" as written in URLs
    if (inet_pton(AF_INET, literal.c_str(), e.ip) == 1) {
        e.is_ip = true;
        e.ip_len = 4;
        e.value = literal;
        return e;
    }
    if (inet_pton(AF_INET6, literal.c_str(), e.ip) == 1) {
        e.is_ip = true;
        e.ip_len = 16;
        e.value = literal;
        return e;
    }
    if (host.empty() || host.size() > 253)
        throw std::runtime_error("tls_ca: invalid host name \"" + host + "\" (length)");
    for (char c : host)
        if (!dns_char(c))
            throw std::runtime_error("tls_ca: invalid host name \"" + host + "\"");
    e.value = host;
    return e;
}

std::vector<san_entry> classify_all(const std::vector<std::string>& hosts)
{
    if (hosts.empty()) throw std::runtime_error("tls_ca: no host names given for the certificate");
    std::vector<san_entry> out;
    out.reserve(hosts.size());
    for (const auto& h : hosts) out.push_back(classify(h));
    return out;
}

// ---- building blocks ----

pkey_ptr new_p256_key()
{
    return pkey_ptr(checked(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), "EVP_PKEY_Q_keygen(P-256)"));
}

name_ptr cn_name(const std::string& cn)
{
    name_ptr name(checked(X509_NAME_new(), "X509_NAME_new"));
    check(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.data()),
                                     static_cast<int>(cn.size()), -1, 0),
          "X509_NAME_add_entry_by_NID(CN)");
    return name;
}

/// A new v3 certificate: random 128-bit serial, subject, issuer, public key, validity
/// [now - 1h, now + days]. Extensions and the signature are the caller's.
x509_ptr new_cert(const X509_NAME* subject, const X509_NAME* issuer, EVP_PKEY* pubkey, int days)
{
    x509_ptr cert(checked(X509_new(), "X509_new"));
    check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

    bn_ptr bn(checked(BN_new(), "BN_new"));
    check(BN_rand(bn.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), "BN_rand(serial)");
    asn1_int_ptr serial(checked(BN_to_ASN1_INTEGER(bn.get(), nullptr), "BN_to_ASN1_INTEGER"));
    check(X509_set_serialNumber(cert.get(), serial.get()), "X509_set_serialNumber");

    check(X509_set_subject_name(cert.get(), subject), "X509_set_subject_name");
    check(X509_set_issuer_name(cert.get(), issuer), "X509_set_issuer_name");
    check(X509_set_pubkey(cert.get(), pubkey), "X509_set_pubkey");

    checked(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600), "X509_gmtime_adj(notBefore)");
    checked(X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr),
            "X509_time_adj_ex(notAfter)");
    return cert;
}

/// Adds one extension from its OpenSSL config-string form, e.g. "critical,CA:TRUE".
void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value)
{
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    if (!ext) fail(std::string("X509V3_EXT_conf_nid(") + OBJ_nid2sn(nid) + "=" + value + ")");
    check(X509_add_ext(cert, ext.get(), -1), std::string("X509_add_ext(") + OBJ_nid2sn(nid) + ")");
}

/// subjectAltName built structurally (no config-string parsing of caller-given names).
void add_san(X509* cert, const std::vector<san_entry>& hosts)
{
    gen_names_ptr names(checked(GENERAL_NAMES_new(), "GENERAL_NAMES_new"));
    for (const auto& h : hosts) {
        gen_name_ptr gn(checked(GENERAL_NAME_new(), "GENERAL_NAME_new"));
        if (h.is_ip) {
            octets_ptr ip(checked(ASN1_OCTET_STRING_new(), "ASN1_OCTET_STRING_new"));
            check(ASN1_OCTET_STRING_set(ip.get(), h.ip, h.ip_len), "ASN1_OCTET_STRING_set(IP SAN)");
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
        } else {
            ia5_ptr dns(checked(ASN1_IA5STRING_new(), "ASN1_IA5STRING_new"));
            check(ASN1_STRING_set(dns.get(), h.value.data(), static_cast<int>(h.value.size())),
                  "ASN1_STRING_set(DNS SAN)");
            GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
        }
        check(sk_GENERAL_NAME_push(names.get(), gn.get()), "sk_GENERAL_NAME_push");
        gn.release();  // owned by the stack now
    }
    check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT),
          "X509_add1_ext_i2d(subjectAltName)");
}

void sign(X509* cert, EVP_PKEY* key)
{
    // SHA-256 for EC and RSA CAs; Ed25519/Ed448 keys (a caller-given CA) take no digest.
    const EVP_MD* md = EVP_sha256();
    int nid = NID_undef;
    if (EVP_PKEY_get_default_digest_nid(key, &nid) == 2 && nid == NID_undef) md = nullptr;
    if (X509_sign(cert, key, md) <= 0) fail("X509_sign");
}

std::string to_pem(X509* cert)
{
    bio_ptr bio(checked(BIO_new(BIO_s_mem()), "BIO_new"));
    check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    if (n <= 0 || !data) fail("BIO_get_mem_data(certificate)");
    return std::string(data, static_cast<std::size_t>(n));
}

std::string to_pem(EVP_PKEY* key)
{
    bio_ptr bio(checked(BIO_new(BIO_s_mem()), "BIO_new"));
    // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    if (n <= 0 || !data) fail("BIO_get_mem_data(private key)");
    return std::string(data, static_cast<std::size_t>(n));
}

bio_ptr mem_bio(const std::string& pem)
{
    return bio_ptr(checked(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), "BIO_new_mem_buf"));
}

// ---- certificates ----

x509_ptr make_ca_cert(EVP_PKEY* ca_key, int days)
{
    name_ptr subject = cn_name("rostersync lms-sim CA");
    x509_ptr cert = new_cert(subject.get(), subject.get(), ca_key, days);

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");

    sign(cert.get(), ca_key);
    return cert;
}

x509_ptr make_leaf_cert(X509* ca_cert, EVP_PKEY* ca_key, EVP_PKEY* leaf_key,
                        const std::vector<san_entry>& hosts, int days)
{
    name_ptr subject = cn_name(hosts.front().value);
    x509_ptr cert = new_cert(subject.get(), X509_get_subject_name(ca_cert), leaf_key, days);

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca_cert, cert.get(), nullptr, nullptr, 0);
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    add_san(cert.get(), hosts);
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    // The CA's key id when it has one (ours always do); issuer+serial for a caller's CA without.
    add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid,issuer");

    sign(cert.get(), ca_key);
    return cert;
}

tls_material leaf_material(X509* ca_cert, EVP_PKEY* ca_key, const std::vector<san_entry>& hosts,
                           int days)
{
    pkey_ptr leaf_key = new_p256_key();
    x509_ptr leaf = make_leaf_cert(ca_cert, ca_key, leaf_key.get(), hosts, days);
    return tls_material{
        .ca_cert_pem = to_pem(ca_cert),
        .ca_key_pem = to_pem(ca_key),
        .cert_pem = to_pem(leaf.get()),
        .key_pem = to_pem(leaf_key.get()),
    };
}

}  // namespace

tls_material make_tls_material(const std::vector<std::string>& hosts, int days)
{
    ERR_clear_error();
    auto entries = classify_all(hosts);
    pkey_ptr ca_key = new_p256_key();
    x509_ptr ca = make_ca_cert(ca_key.get(), days);
    return leaf_material(ca.get(), ca_key.get(), entries, days);
}

tls_material make_leaf(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                       const std::vector<std::string>& hosts, int days)
{
    ERR_clear_error();
    auto entries = classify_all(hosts);

    bio_ptr cert_bio = mem_bio(ca_cert_pem);
    x509_ptr ca(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!ca) fail("PEM_read_bio_X509(CA certificate)");

    bio_ptr key_bio = mem_bio(ca_key_pem);
    pkey_ptr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!ca_key) fail("PEM_read_bio_PrivateKey(CA key)");

    if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
        fail("X509_check_private_key (the CA key does not match the CA certificate)");
    if (X509_check_ca(ca.get()) == 0) {
        ERR_clear_error();
        throw std::runtime_error("tls_ca: the given CA certificate is not a CA (X509_check_ca)");
    }
    return leaf_material(ca.get(), ca_key.get(), entries, days);
}

}  // namespace rostersync::lms_sim
