#pragma once
// File: lms_sim/tls_ca.hpp
//
// TLS material for the simulated platform: a CA generated at start (or given by a test) and a
// server certificate it signs, valid for every host name the simulator plays, so a client can
// verify the chain and the host name for real with only the CA file. OpenSSL 3; thread-safe.
// Failures throw std::runtime_error naming the OpenSSL step.

#include <string>
#include <vector>

namespace rostersync::lms_sim {

struct tls_material {
    std::string ca_cert_pem;   ///< the CA certificate: what clients trust (write it to a file)
    std::string ca_key_pem;    ///< the CA's private key (to sign more leaves)
    std::string cert_pem;      ///< the server certificate (leaf)
    std::string key_pem;       ///< the server's private key
};

/// A fresh CA plus a leaf for `hosts`: DNS names go in as DNS SANs, IP literals as IP SANs; the
/// leaf's subject CN is the first host. Valid from an hour ago for `days`.
tls_material make_tls_material(const std::vector<std::string>& hosts, int days = 30);

/// A leaf for `hosts` signed by a CA the caller provides (its certificate and key, PEM).
tls_material make_leaf(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                       const std::vector<std::string>& hosts, int days = 30);

}  // namespace rostersync::lms_sim
