#include "lms_sim/tls_ca.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace rostersync::lms_sim {
namespace {

// ---- RAII and PEM helpers ----

struct x509_free_t {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct pkey_free_t {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct bio_free_t {
    void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
struct store_free_t {
    void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct store_ctx_free_t {
    void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
struct bn_free_t {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct time_free_t {
    void operator()(ASN1_TIME* p) const noexcept { ASN1_TIME_free(p); }
};
struct names_free_t {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
using x509_ptr = std::unique_ptr<X509, x509_free_t>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free_t>;
using bio_ptr = std::unique_ptr<BIO, bio_free_t>;
using store_ptr = std::unique_ptr<X509_STORE, store_free_t>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, store_ctx_free_t>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free_t>;
using time_ptr = std::unique_ptr<ASN1_TIME, time_free_t>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, names_free_t>;

x509_ptr cert_of(const std::string& pem)
{
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::runtime_error("BIO_new_mem_buf");
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) throw std::runtime_error("PEM_read_bio_X509");
    return cert;
}

pkey_ptr key_of(const std::string& pem)
{
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::runtime_error("BIO_new_mem_buf");
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) throw std::runtime_error("PEM_read_bio_PrivateKey");
    return key;
}

store_ptr store_trusting(const std::string& ca_pem)
{
    store_ptr store(X509_STORE_new());
    if (!store) throw std::runtime_error("X509_STORE_new");
    x509_ptr ca = cert_of(ca_pem);
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) throw std::runtime_error("X509_STORE_add_cert");
    return store;
}

/// X509_verify_cert of `leaf_pem` against a store holding only `ca_pem`, for a TLS server unless
/// `as_server` is false; the X509_V_* result.
int verify(const std::string& leaf_pem, const std::string& ca_pem, bool as_server = true)
{
    store_ptr store = store_trusting(ca_pem);
    x509_ptr leaf = cert_of(leaf_pem);
    store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx) throw std::runtime_error("X509_STORE_CTX_new");
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1)
        throw std::runtime_error("X509_STORE_CTX_init");
    if (as_server) X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(ctx.get());
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    if (ok == 1) return X509_V_OK;
    return err == X509_V_OK ? -1 : err;
}

std::string cn_of(const X509_NAME* name)
{
    char buf[256] = {};
    int n = X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

long seconds_between(const ASN1_TIME* from, const ASN1_TIME* to)
{
    int day = 0;
    int sec = 0;
    if (ASN1_TIME_diff(&day, &sec, from, to) != 1) throw std::runtime_error("ASN1_TIME_diff");
    return static_cast<long>(day) * 86400 + sec;
}

bool critical(const X509* cert, int nid)
{
    int i = X509_get_ext_by_NID(cert, nid, -1);
    return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, i)) == 1;
}

const std::vector<std::string> sim_hosts = {"canvas.lms-sim.test", "localhost", "127.0.0.1", "::1"};

// ---- the material ----

TEST(TlsCa, LeafVerifiesAgainstItsCa)
{
    auto m = make_tls_material(sim_hosts);
    EXPECT_EQ(verify(m.cert_pem, m.ca_cert_pem), X509_V_OK);
}

TEST(TlsCa, CaIsSelfSignedAndVerifiesAgainstItself)
{
    auto m = make_tls_material({"a.test"});
    EXPECT_EQ(verify(m.ca_cert_pem, m.ca_cert_pem, false), X509_V_OK);
    auto ca = cert_of(m.ca_cert_pem);
    EXPECT_EQ(cn_of(X509_get_subject_name(ca.get())), "rostersync lms-sim CA");
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_get_issuer_name(ca.get())), 0);
    EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
}

TEST(TlsCa, HostCheckMatchesEveryDnsHostAndNothingElse)
{
    auto m = make_tls_material({"canvas.lms-sim.test", "school.instructure.test", "localhost"});
    auto leaf = cert_of(m.cert_pem);
    for (const char* h : {"canvas.lms-sim.test", "school.instructure.test", "localhost"})
        EXPECT_EQ(X509_check_host(leaf.get(), h, 0, 0, nullptr), 1) << h;
    for (const char* h : {"other.test", "lms-sim.test", "x.canvas.lms-sim.test", "canvas.lms-sim.tes"})
        EXPECT_EQ(X509_check_host(leaf.get(), h, 0, 0, nullptr), 0) << h;
}

TEST(TlsCa, IpCheckMatchesListedLiterals)
{
    auto m = make_tls_material(sim_hosts);
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "0:0:0:0:0:0:0:1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.2", 0), 0);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::2", 0), 0);
    // IP literals are IP SANs, not DNS SANs.
    EXPECT_EQ(X509_check_host(leaf.get(), "127.0.0.1", 0, 0, nullptr), 0);
}

TEST(TlsCa, IpNotListedDoesNotMatch)
{
    auto m = make_tls_material({"localhost"});
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 0);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 0);
}

TEST(TlsCa, BracketedIpv6IsAnIpSan)
{
    auto m = make_tls_material({"[::1]"});
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
}

TEST(TlsCa, SanListsExactlyTheHostsInOrder)
{
    auto m = make_tls_material(sim_hosts);
    auto leaf = cert_of(m.cert_pem);
    names_ptr names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, nullptr, nullptr)));
    ASSERT_TRUE(names);
    ASSERT_EQ(sk_GENERAL_NAME_num(names.get()), 4);
    auto type = [&](int i) { return sk_GENERAL_NAME_value(names.get(), i)->type; };
    EXPECT_EQ(type(0), GEN_DNS);
    EXPECT_EQ(type(1), GEN_DNS);
    EXPECT_EQ(type(2), GEN_IPADD);
    EXPECT_EQ(type(3), GEN_IPADD);
    EXPECT_EQ(ASN1_STRING_length(sk_GENERAL_NAME_value(names.get(), 2)->d.iPAddress), 4);
    EXPECT_EQ(ASN1_STRING_length(sk_GENERAL_NAME_value(names.get(), 3)->d.iPAddress), 16);
}

TEST(TlsCa, CaFlagsAndExtensions)
{
    auto m = make_tls_material(sim_hosts);
    auto ca = cert_of(m.ca_cert_pem);
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(X509_check_ca(ca.get()), 1);
    EXPECT_EQ(X509_check_ca(leaf.get()), 0);

    EXPECT_TRUE(critical(ca.get(), NID_basic_constraints));
    EXPECT_TRUE(critical(ca.get(), NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    ASSERT_NE(X509_get0_subject_key_id(ca.get()), nullptr);

    EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
    EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
    EXPECT_EQ(X509_check_purpose(leaf.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(leaf.get());
    ASSERT_NE(akid, nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca.get())), 0);
}

TEST(TlsCa, LeafSubjectIsFirstHostAndIssuerIsCa)
{
    auto m = make_tls_material({"first.test", "second.test"});
    auto ca = cert_of(m.ca_cert_pem);
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(cn_of(X509_get_subject_name(leaf.get())), "first.test");
    EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()), X509_get_subject_name(ca.get())), 0);
    EXPECT_EQ(X509_get_version(leaf.get()), X509_VERSION_3);
    EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
    EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
}

TEST(TlsCa, KeysMatchTheirCertificatesAndArePkcs8P256)
{
    auto m = make_tls_material(sim_hosts);
    auto ca = cert_of(m.ca_cert_pem);
    auto leaf = cert_of(m.cert_pem);
    auto ca_key = key_of(m.ca_key_pem);
    auto leaf_key = key_of(m.key_pem);
    EXPECT_EQ(X509_check_private_key(leaf.get(), leaf_key.get()), 1);
    EXPECT_EQ(X509_check_private_key(ca.get(), ca_key.get()), 1);
    EXPECT_NE(X509_check_private_key(leaf.get(), ca_key.get()), 1);
    ERR_clear_error();
    EXPECT_EQ(m.key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    EXPECT_EQ(m.ca_key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    EXPECT_EQ(m.cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
    EXPECT_TRUE(EVP_PKEY_is_a(leaf_key.get(), "EC"));
    char group[64] = {};
    size_t len = 0;
    ASSERT_EQ(EVP_PKEY_get_group_name(leaf_key.get(), group, sizeof group, &len), 1);
    EXPECT_STREQ(group, "prime256v1");
}

TEST(TlsCa, SerialsAreRandom128Bit)
{
    auto a = make_tls_material({"a.test"});
    auto b = make_tls_material({"a.test"});
    auto ca_a = cert_of(a.ca_cert_pem);
    auto ca_b = cert_of(b.ca_cert_pem);
    auto leaf_a = cert_of(a.cert_pem);
    bn_ptr s_ca(ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca_a.get()), nullptr));
    bn_ptr s_leaf(ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf_a.get()), nullptr));
    ASSERT_TRUE(s_ca && s_leaf);
    EXPECT_EQ(BN_num_bits(s_ca.get()), 128);
    EXPECT_EQ(BN_num_bits(s_leaf.get()), 128);
    EXPECT_FALSE(BN_is_negative(s_ca.get()));
    EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca_a.get()), X509_get0_serialNumber(ca_b.get())), 0);
    EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca_a.get()), X509_get0_serialNumber(leaf_a.get())), 0);
    EXPECT_NE(a.ca_key_pem, b.ca_key_pem);
}

TEST(TlsCa, ValidFromAnHourAgoForDays)
{
    time_ptr now(ASN1_TIME_set(nullptr, std::time(nullptr)));
    ASSERT_TRUE(now);
    auto m = make_tls_material({"a.test"}, 7);
    for (const std::string* pem : {&m.cert_pem, &m.ca_cert_pem}) {
        auto c = cert_of(*pem);
        long before = seconds_between(X509_get0_notBefore(c.get()), now.get());
        long after = seconds_between(now.get(), X509_get0_notAfter(c.get()));
        EXPECT_NEAR(before, 3600, 5);
        EXPECT_NEAR(after, 7 * 86400, 5);
    }
}

TEST(TlsCa, NegativeDaysMakesAnExpiredLeaf)
{
    auto ca = make_tls_material({"ca.test"});
    auto leaf = make_leaf(ca.ca_cert_pem, ca.ca_key_pem, {"a.test"}, -1);
    EXPECT_EQ(verify(leaf.cert_pem, ca.ca_cert_pem), X509_V_ERR_CERT_HAS_EXPIRED);
}

// ---- make_leaf ----

TEST(TlsCaMakeLeaf, LeafFromAGivenCaVerifiesAgainstIt)
{
    auto first = make_tls_material({"first.test"});
    auto m = make_leaf(first.ca_cert_pem, first.ca_key_pem, {"second.test", "127.0.0.1"});
    EXPECT_EQ(m.ca_cert_pem, first.ca_cert_pem);
    EXPECT_EQ(m.ca_key_pem, first.ca_key_pem);
    EXPECT_NE(m.cert_pem, first.cert_pem);
    EXPECT_NE(m.key_pem, first.key_pem);
    EXPECT_EQ(verify(m.cert_pem, first.ca_cert_pem), X509_V_OK);
    auto leaf = cert_of(m.cert_pem);
    EXPECT_EQ(X509_check_host(leaf.get(), "second.test", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(leaf.get(), "first.test", 0, 0, nullptr), 0);
    EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_private_key(leaf.get(), key_of(m.key_pem).get()), 1);
}

TEST(TlsCaMakeLeaf, LeafFromOneCaDoesNotVerifyAgainstAnother)
{
    auto a = make_tls_material({"a.test"});
    auto b = make_tls_material({"a.test"});
    EXPECT_NE(verify(a.cert_pem, b.ca_cert_pem), X509_V_OK);
    EXPECT_EQ(verify(a.cert_pem, b.ca_cert_pem), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    auto leaf = make_leaf(a.ca_cert_pem, a.ca_key_pem, {"a.test"});
    EXPECT_NE(verify(leaf.cert_pem, b.ca_cert_pem), X509_V_OK);
}

TEST(TlsCaMakeLeaf, BadCaPemThrows)
{
    auto a = make_tls_material({"a.test"});
    auto b = make_tls_material({"b.test"});
    const std::vector<std::string> hosts = {"x.test"};
    EXPECT_THROW(make_leaf("not a pem", a.ca_key_pem, hosts), std::runtime_error);
    EXPECT_THROW(make_leaf("", a.ca_key_pem, hosts), std::runtime_error);
    EXPECT_THROW(make_leaf(a.ca_cert_pem, "not a pem", hosts), std::runtime_error);
    EXPECT_THROW(make_leaf(a.ca_cert_pem, "", hosts), std::runtime_error);
    std::string truncated = a.ca_cert_pem.substr(0, a.ca_cert_pem.size() / 2);
    EXPECT_THROW(make_leaf(truncated, a.ca_key_pem, hosts), std::runtime_error);
    // Parses, but the key is another CA's.
    EXPECT_THROW(make_leaf(a.ca_cert_pem, b.ca_key_pem, hosts), std::runtime_error);
    // A leaf and its key are not a CA.
    EXPECT_THROW(make_leaf(a.cert_pem, a.key_pem, hosts), std::runtime_error);
}

TEST(TlsCaMakeLeaf, ErrorsNameTheStep)
{
    auto a = make_tls_material({"a.test"});
    try {
        make_leaf("garbage", a.ca_key_pem, {"x.test"});
        FAIL() << "no throw";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("PEM_read_bio_X509"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ERR_peek_error(), 0u);  // the queue was drained into the message
}

TEST(TlsCa, BadHostsThrow)
{
    EXPECT_THROW(make_tls_material({}), std::runtime_error);
    EXPECT_THROW(make_tls_material({""}), std::runtime_error);
    EXPECT_THROW(make_tls_material({"ok.test", "bad host"}), std::runtime_error);
    EXPECT_THROW(make_tls_material({"evil.test,IP:1.2.3.4"}), std::runtime_error);
    auto a = make_tls_material({"a.test"});
    EXPECT_THROW(make_leaf(a.ca_cert_pem, a.ca_key_pem, {}), std::runtime_error);
}

// ---- a real TLS handshake ----
//
// The handshake code calls libssl through this small table of functions.

struct libssl {
    decltype(&TLS_server_method) server_method = nullptr;
    decltype(&TLS_client_method) client_method = nullptr;
    decltype(&SSL_CTX_new) ctx_new = nullptr;
    decltype(&SSL_CTX_free) ctx_free = nullptr;
    decltype(&SSL_CTX_use_certificate) use_certificate = nullptr;
    decltype(&SSL_CTX_use_PrivateKey) use_private_key = nullptr;
    decltype(&SSL_CTX_set_cert_store) set_cert_store = nullptr;
    decltype(&SSL_CTX_set_verify) set_verify = nullptr;
    decltype(&SSL_new) ssl_new = nullptr;
    decltype(&SSL_free) ssl_free = nullptr;
    decltype(&SSL_set_fd) set_fd = nullptr;
    decltype(&SSL_ctrl) ctrl = nullptr;
    decltype(&SSL_set1_host) set1_host = nullptr;
    decltype(&SSL_get0_param) get0_param = nullptr;
    decltype(&SSL_get_servername) get_servername = nullptr;
    decltype(&SSL_connect) connect = nullptr;
    decltype(&SSL_accept) accept = nullptr;
    decltype(&SSL_read) read = nullptr;
    decltype(&SSL_write) write = nullptr;
    decltype(&SSL_get_verify_result) get_verify_result = nullptr;

    static const libssl* get()
    {
        static const libssl* const instance = load();
        return instance;
    }

private:
    static const libssl* load()
    {
        // libssl is linked (OpenSSL::SSL); the table keeps the handshake code below unchanged.
        static libssl s;
        s.server_method = &TLS_server_method;
        s.client_method = &TLS_client_method;
        s.ctx_new = &SSL_CTX_new;
        s.ctx_free = &SSL_CTX_free;
        s.use_certificate = &SSL_CTX_use_certificate;
        s.use_private_key = &SSL_CTX_use_PrivateKey;
        s.set_cert_store = &SSL_CTX_set_cert_store;
        s.set_verify = &SSL_CTX_set_verify;
        s.ssl_new = &SSL_new;
        s.ssl_free = &SSL_free;
        s.set_fd = &SSL_set_fd;
        s.ctrl = &SSL_ctrl;
        s.set1_host = &SSL_set1_host;
        s.get0_param = &SSL_get0_param;
        s.get_servername = &SSL_get_servername;
        s.connect = &SSL_connect;
        s.accept = &SSL_accept;
        s.read = &SSL_read;
        s.write = &SSL_write;
        s.get_verify_result = &SSL_get_verify_result;
        return &s;
    }
};

struct fd_closer {
    int fd = -1;
    fd_closer() = default;
    explicit fd_closer(int f) : fd(f) {}
    fd_closer(const fd_closer&) = delete;
    fd_closer& operator=(const fd_closer&) = delete;
    ~fd_closer() { close_now(); }
    void close_now()
    {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

struct handshake_result {
    bool client_ok = false;
    long client_verify = -1;
    bool server_ok = false;
    std::string server_sni;
    std::string echoed;  ///< what the client read back after sending "ping"
};

/// Server: the leaf and its key. Client: trusts only `ca_pem`, verifies the peer, sends SNI
/// `expect_host` and checks it (SSL_set1_host), or checks `expect_ip` when that is set instead.
handshake_result handshake(const tls_material& server, const std::string& ca_pem,
                           const std::string& expect_host, const std::string& expect_ip = {})
{
    const libssl* ssl = libssl::get();
    // A peer that gives up closes its end; writing to it must fail, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair");
    fd_closer client_fd(fds[0]);
    fd_closer server_fd(fds[1]);
    // Safety net against a hang if something goes wrong; a normal run never waits on it.
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    for (int fd : fds) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }

    auto ctx_deleter = [ssl](SSL_CTX* c) { ssl->ctx_free(c); };
    auto ssl_deleter = [ssl](SSL* s) { ssl->ssl_free(s); };
    using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(ctx_deleter)>;
    using ssl_ptr = std::unique_ptr<SSL, decltype(ssl_deleter)>;

    // Server context.
    ctx_ptr sctx(ssl->ctx_new(ssl->server_method()), ctx_deleter);
    if (!sctx) throw std::runtime_error("SSL_CTX_new(server)");
    auto leaf = cert_of(server.cert_pem);
    auto leaf_key = key_of(server.key_pem);
    if (ssl->use_certificate(sctx.get(), leaf.get()) != 1 ||
        ssl->use_private_key(sctx.get(), leaf_key.get()) != 1)
        throw std::runtime_error("server certificate/key");

    // Client context: trusts only the CA.
    ctx_ptr cctx(ssl->ctx_new(ssl->client_method()), ctx_deleter);
    if (!cctx) throw std::runtime_error("SSL_CTX_new(client)");
    ssl->set_cert_store(cctx.get(), store_trusting(ca_pem).release());  // the context owns it
    ssl->set_verify(cctx.get(), SSL_VERIFY_PEER, nullptr);

    ssl_ptr s(ssl->ssl_new(sctx.get()), ssl_deleter);
    ssl_ptr c(ssl->ssl_new(cctx.get()), ssl_deleter);
    if (!s || !c) throw std::runtime_error("SSL_new");
    ssl->set_fd(s.get(), server_fd.fd);
    ssl->set_fd(c.get(), client_fd.fd);
    if (expect_ip.empty()) {
        if (ssl->ctrl(c.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(expect_host.c_str())) != 1 ||
            ssl->set1_host(c.get(), expect_host.c_str()) != 1)
            throw std::runtime_error("SNI / SSL_set1_host");
    } else if (X509_VERIFY_PARAM_set1_ip_asc(ssl->get0_param(c.get()), expect_ip.c_str()) != 1) {
        throw std::runtime_error("X509_VERIFY_PARAM_set1_ip_asc");
    }

    handshake_result r;
    std::thread server_thread([&] {
        if (ssl->accept(s.get()) == 1) {
            r.server_ok = true;
            if (const char* sni = ssl->get_servername(s.get(), TLSEXT_NAMETYPE_host_name)) r.server_sni = sni;
            char buf[16];
            int n = ssl->read(s.get(), buf, sizeof buf);
            if (n > 0) ssl->write(s.get(), buf, n);
        }
        ERR_clear_error();  // the error queue is per thread
        server_fd.close_now();  // a client still waiting sees EOF
    });

    if (ssl->connect(c.get()) == 1) {
        r.client_ok = true;
        if (ssl->write(c.get(), "ping", 4) == 4) {
            char buf[16];
            int n = ssl->read(c.get(), buf, sizeof buf);
            if (n > 0) r.echoed.assign(buf, static_cast<std::size_t>(n));
        }
    }
    r.client_verify = ssl->get_verify_result(c.get());
    ERR_clear_error();
    client_fd.close_now();  // a server still waiting sees EOF
    server_thread.join();
    return r;
}

TEST(TlsCaHandshake, ClientTrustingOnlyTheCaVerifiesTheServer)
{
    auto m = make_tls_material(sim_hosts);
    for (const char* host : {"canvas.lms-sim.test", "localhost"}) {
        auto r = handshake(m, m.ca_cert_pem, host);
        EXPECT_TRUE(r.client_ok) << host;
        EXPECT_TRUE(r.server_ok) << host;
        EXPECT_EQ(r.client_verify, X509_V_OK) << host;
        EXPECT_EQ(r.server_sni, host);
        EXPECT_EQ(r.echoed, "ping");
    }
}

TEST(TlsCaHandshake, ClientVerifiesAnIpSan)
{
    auto m = make_tls_material(sim_hosts);
    auto r = handshake(m, m.ca_cert_pem, "", "127.0.0.1");
    EXPECT_TRUE(r.client_ok);
    EXPECT_EQ(r.client_verify, X509_V_OK);
}

TEST(TlsCaHandshake, LeafFromMakeLeafServesTls)
{
    auto first = make_tls_material({"first.test"});
    auto m = make_leaf(first.ca_cert_pem, first.ca_key_pem, {"second.test"});
    auto r = handshake(m, first.ca_cert_pem, "second.test");
    EXPECT_TRUE(r.client_ok);
    EXPECT_EQ(r.client_verify, X509_V_OK);
}

TEST(TlsCaHandshake, FailsWhenTheExpectedHostIsNotListed)
{
    auto m = make_tls_material(sim_hosts);
    auto r = handshake(m, m.ca_cert_pem, "not-listed.test");
    EXPECT_FALSE(r.client_ok);
    EXPECT_FALSE(r.server_ok);
    EXPECT_EQ(r.client_verify, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST(TlsCaHandshake, FailsAgainstAnotherCa)
{
    auto m = make_tls_material(sim_hosts);
    auto other = make_tls_material(sim_hosts);
    auto r = handshake(m, other.ca_cert_pem, "localhost");
    EXPECT_FALSE(r.client_ok);
    EXPECT_EQ(r.client_verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

}  // namespace
}  // namespace rostersync::lms_sim
