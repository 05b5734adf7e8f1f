#pragma once
// File: config/config.hpp
//
// The validated configuration: plain aggregates with the defaults of DESIGN.md section 3. Values
// here have passed every check in config/load.hpp, so components may rely on them (a positive
// duration is positive, a budget a platform names exists, …). Copyable values; no locking needed.

#include "common/duration.hpp"
#include "common/log.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::config {

using namespace std::chrono_literals;

/// [daemon]: process-level settings (not in DESIGN section 3's sample; see README).
struct daemon_config {
    int threads = 0;                  ///< io_context threads; 0 = one per core
    duration shutdown_grace = 30s;    ///< SIGTERM: time for in-flight work before a forced stop
    duration shutdown_delay = 0s;     ///< SIGTERM: time to keep serving with /readyz = 503 first
};

/// [log]
struct log_config {
    log::level level = log::level::info;
    log::format format = log::format::logfmt;
};

/// [kafka.topics]: the names of DESIGN section 2.
struct topic_names {
    std::string course_seen = "lti.course-seen";
    std::string course_seen_dlq = "lti.course-seen.dlq";
    std::string membership_changes = "lti.membership-changes";
    std::string memberships = "rostersync.memberships";
    std::string contexts = "rostersync.contexts";
    std::string checkpoints = "rostersync.checkpoints";
    std::string sync_requests = "rostersync.sync-requests";
};

/// [kafka]
struct kafka_config {
    std::string brokers = "embedded";  ///< "embedded" or a bootstrap list "host:port,…"
    std::string group_id = "rostersync";
    int partitions = 12;
    int replication_factor = 3;
    bool exactly_once = false;
    std::string transactional_id;      ///< exactly_once: empty = "<group_id>-<host name>"
    topic_names topics;
    /// [kafka.properties], passed to librdkafka as is, in file order. A `<name>_file` key in the
    /// file has already been replaced by `<name>` with the file's content (secrets).
    std::vector<std::pair<std::string, std::string>> properties;

    bool embedded() const { return brokers == "embedded"; }
};

/// [sync]
struct sync_config {
    duration min_interval = 10min;
    duration resync_interval = 24h;
    double resync_share = 0.2;
    duration retire_after = 180 * 24h;
    int page_size = 50;
    int max_concurrent_syncs = 512;
    double max_removal_ratio = 0.5;
    int guard_min_members = 10;
    duration snapshot_interval = 5min;  ///< how often the memberships table and checkpoints are written
};

/// "host:port" with host an IP literal or localhost; IPv6 written "[::1]:9464".
struct endpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 9464;

    std::string to_string() const;
    bool is_loopback() const;
};

/// One [http.resolve] entry: connections for `host:port` go to `address:address_port`.
struct resolve_entry {
    std::string host;
    std::uint16_t port = 0;
    std::string address;
    std::uint16_t address_port = 0;
};

/// [http]
struct http_config {
    endpoint listen;
    std::string admin_token_file;  ///< resolved path; empty: admin API off
    std::vector<resolve_entry> resolve;
};

/// One [[platforms]] entry.
struct platform {
    std::string name;
    std::string issuer;
    std::string client_id;
    std::string token_url;
    std::string private_key_file;            ///< resolved path
    std::string key_id;
    std::vector<std::string> previous_key_files;  ///< resolved; still published in the JWKS (rotation)
    std::vector<std::string> allowed_hosts;  ///< lower-case; "*.example.com" wildcards
    std::string budget;                      ///< empty: one budget per host
    std::string ca_file;                     ///< resolved path; empty: system trust store
    bool allow_http = false;
    bool nrps = true;
    /// Account discovery (daemon/discovery): the Canvas REST API base ("https://school.instructure.com",
    /// a host in allowed_hosts) and the file holding a REST API access token (resolved path; a
    /// credential separate from the LTI key, never logged). Both set, or neither.
    std::string rest_url;
    std::string rest_token_file;
};

/// One [[budgets]] entry.
struct budget {
    std::string name;
    int max_in_flight = 6;  // with reserve 300, Canvas's room for up-front charges (README)
    int reserve = 300;
    double requests_per_second = 20.0;
    duration max_wait = 10min;
};

/// One [[discovery]] entry: list the courses of a Canvas account through the REST API (or its
/// provisioning report) every `interval` and announce each course where the tool is installed.
struct discovery_entry {
    std::string platform;                        ///< a [[platforms]] name with rest_url and rest_token_file
    std::string account;                         ///< Canvas account id, or "sis_account_id:…"
    std::string term;                            ///< enrollment_term_id filter; empty: every term
    /// Canvas course states to include: created, claimed (both unpublished), available, completed, deleted.
    std::vector<std::string> states{"available"};
    bool subaccounts = true;                     ///< false: only courses directly in `account`
    bool from_report = false;                    ///< the provisioning report instead of the courses list
    duration interval = 24h;                     ///< between runs (the first runs at start)
    duration recheck_after = 7 * 24h;            ///< a course's outcome is kept this long before it is probed again

    bool operator==(const discovery_entry&) const = default;
};

struct config {
    std::string source;  ///< the file it came from ("" for a string)
    daemon_config daemon;
    log_config log;
    kafka_config kafka;
    sync_config sync;
    http_config http;
    std::vector<platform> platforms;
    std::vector<budget> budgets;
    std::vector<discovery_entry> discovery;

    const platform* find_platform(std::string_view name) const;
    const budget* find_budget(std::string_view name) const;
};

}  // namespace rostersync::config
