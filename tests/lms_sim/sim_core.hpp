#pragma once
// File: lms_sim/sim_core.hpp
//
// The simulated platform's behaviour without sockets: a request in, a response plan out, with
// time passed in (seconds since the epoch). server.hpp puts it behind a real HTTP(S) listener;
// unit tests drive it directly, so every Canvas rule is checked deterministically.
//
//     sim_core core({.hosts = {{"school.test"}}});
//     auto key = generate_rsa_key();
//     core.register_client({.client_id = "10000000000001", .public_key_pem = key.public_pem});
//     auto& course = core.state().w.add_course({.size = 120});
//     auto plan = core.handle({.method = "POST", .host = "school.test", .target = "/login/oauth2/token", …}, now);
//     core.complete(plan, now);   // bucket refund and throttle headers, once the reply is "done"
//
// Canvas behaviour follows reference canvas-nrps.md (sections 1-6, checklist 9); spec mode (per
// host) adds rel="differences", Inactive and Deleted members.
//
// Not thread-safe: the server keeps it on one strand.

#include "lms_sim/canvas_bucket.hpp"
#include "lms_sim/world.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::lms_sim {

inline constexpr const char* nrps_scope =
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";

/// One host name the simulator answers for. Hosts of one `cluster` share a throttle bucket per
/// client_id, as Canvas Cloud shares one per developer key per database cluster.
struct host_config {
    std::string name;
    std::string cluster = "cluster-1";
    bool spec_mode = false;  ///< rel="differences", Inactive/Deleted members
    /// How Link headers are written, to exercise clients: "canvas" (Canvas's exact bytes),
    /// "relative" (relative references), "split" (one Link header line per link, name "link"),
    /// "spaced" (", " separators, unquoted rel values, upper-case REL names).
    std::string link_style = "canvas";
};

enum class reject_mode { forbidden_403, too_many_429 };

struct throttle_options {
    bool enabled = true;
    bucket_params bucket;
    reject_mode mode = reject_mode::forbidden_403;
    std::optional<int> retry_after;   ///< seconds, sent with rejections when set
    bool token_requests_cost = false; ///< token requests charge +token_cost to the client's bucket
    double token_cost = 200;
    double page_base_cost = 0.05;     ///< cost of a page: base + per member (× rlid_factor with rlid)
    double member_cost = 0.004;
    double rlid_factor = 10;
    double seconds_per_cost = 0;      ///< real reply latency per unit of cost (0: instant)
};

/// The Canvas REST API side (account discovery): courses list, accounts, provisioning reports.
struct rest_api_options {
    int default_per_page = 10;       ///< Canvas's api_per_page
    int max_per_page = 100;          ///< Canvas's api_max_per_page
    int report_polls = 3;            ///< status polls a report answers created/running before it completes
    bool fail_reports = false;       ///< reports end in "error" instead
    std::string files_host;          ///< host of report files (public_url); empty: the API host
    double page_base_cost = 0.1;     ///< throttle cost of a REST call: base + per course listed
    double course_cost = 0.002;
};

struct sim_options {
    std::vector<host_config> hosts{{.name = "canvas.test"}};
    std::uint64_t seed = 1;
    int token_ttl_seconds = 3600;
    throttle_options throttle;
    rest_api_options rest;
};

/// A Canvas REST API access token (a user's, or one issued through a REST developer key) and
/// what its user may do: administer `account` (and so its sub-accounts), with two permissions.
/// It does not work for LTI services, and LTI Advantage tokens do not work here.
struct rest_token {
    std::string token;
    std::uint64_t account = 1;
    bool list_courses = true;        ///< "Courses - view list" (read_course_list)
    bool run_reports = true;         ///< "Reports - manage" (read_reports)
};

/// An account report (provisioning_csv, courses) and its file once complete.
struct sim_report {
    std::uint64_t id = 0;
    std::uint64_t account = 0;
    std::string token;
    std::optional<std::uint64_t> term;
    bool include_deleted = false;
    int polls_left = 0;
    std::string status = "created";
    std::uint64_t file_id = 0;       ///< set when complete
};

struct sim_file {
    std::string content;
    std::string content_type = "text/csv";
    std::string name;
    std::string verifier;            ///< signs its download and public URLs
};

/// A tool registered on the platform (a developer key with its deployment).
struct client_registration {
    std::string client_id;                        ///< numeric, as Canvas's global ids
    std::string public_key_pem;                   ///< the tool's key, or:
    std::string jwks_json;                        ///< its JWK set
    std::vector<std::string> scopes{nrps_scope};  ///< what the key may be granted
    privacy level = privacy::everything;
    bool active = true;
    std::set<std::uint64_t> not_installed;        ///< courses/groups without the tool
    std::set<std::uint64_t> unbound;              ///< courses whose account turned the key off
};

/// A fault applied to matching requests, `times` times (-1: until cleared).
struct fault {
    enum class kind {
        status,        ///< answer `status` (5xx) with a generic body
        slow,          ///< delay the reply by `delay_ms`
        reset,         ///< close the connection without answering
        truncate,      ///< announce the full length, send half the body, close
        malformed,     ///< a body that is not JSON
        loop_next,     ///< rel="next" points at the current page
        expire_token,  ///< the token used expires now: 401 "Access token expired"
        drop_first,    ///< the member with the lowest id leaves before this page is served
        throttle,      ///< reject as the throttle would
        foreign_next,  ///< rel="next" points at another host
    };
    kind what = kind::status;
    std::string route = "nrps";  ///< "nrps", "token" or "rest" (every /api/v1 call)
    std::uint64_t context = 0;   ///< 0: any
    int page = 0;                ///< 0: any
    int status = 500;
    int delay_ms = 0;
    int times = 1;
};

struct token_info {
    std::string client_id;
    std::vector<std::string> scopes;
    double expires_at = 0;
};

/// What the simulator did, for tests and benchmarks to assert on.
struct request_record {
    double time = 0;
    std::string method;
    std::string host;
    std::string target;
    std::string route;      ///< "token", "nrps", "rest", "file", "control", "other"
    int status = 0;
    std::string client_id;
    std::uint64_t context = 0;
    int page = 0;
    int members = 0;
    double cost = 0;
    double remaining = -1;  ///< X-Rate-Limit-Remaining sent (-1: none)
    bool throttled = false;
    std::string fault;      ///< the fault applied, if any
    bool authorized = false;  ///< the request carried an Authorization header (where tokens went)
};

struct sim_request {
    std::string method = "GET";
    std::string scheme = "https";
    std::string host;            ///< the Host header as sent (may carry ":port")
    std::string target = "/";    ///< path and query
    std::string content_type;
    std::string authorization;
    std::string body;
};

struct sim_response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    enum class transport { normal, reset, truncate } how = transport::normal;
    double delay_seconds = 0;

    // Deferred throttle accounting, done by complete():
    std::string bucket_key;
    double cost = 0;
    bool admitted = false;
    std::size_t record = 0;  ///< index in the request log

    std::string header(std::string_view name) const;
};

struct sim_state {
    world w;
    std::map<std::string, client_registration> clients;
    std::map<std::string, token_info> tokens;
    std::map<std::string, canvas_bucket> buckets;  ///< "<client_id>|<cluster>"
    std::vector<fault> faults;
    std::vector<request_record> log;
    std::map<std::string, rest_token> rest_tokens;
    std::map<std::uint64_t, sim_report> reports;
    std::map<std::uint64_t, sim_file> files;
};

class sim_core {
public:
    explicit sim_core(sim_options opts);

    void register_client(client_registration c);
    void register_rest_token(rest_token t);

    /// Handles one request arriving at `now`. Apply the plan's delay, then call complete().
    sim_response handle(const sim_request& req, double now);
    /// Finishes a request at `now`: refunds the up-front charge, adds the cost, sets
    /// X-Request-Cost and X-Rate-Limit-Remaining.
    void complete(sim_response& r, double now);

    sim_state& state() { return state_; }
    const sim_options& options() const { return opts_; }
    const host_config* find_host(std::string_view host_header) const;

private:
    sim_response handle_token(const sim_request& req, request_record& rec, double now);
    sim_response handle_nrps(const sim_request& req, request_record& rec, double now);
    sim_response handle_control(const sim_request& req, request_record& rec, double now);
    sim_response handle_rest(const sim_request& req, request_record& rec, double now);   // rest_api.cpp
    sim_response handle_file(const sim_request& req, request_record& rec);                // rest_api.cpp
    std::string render_report(const sim_report& r, const std::string& origin) const;
    std::string provisioning_csv(const sim_report& r) const;
    std::optional<fault> take_fault(std::string_view route, std::uint64_t context, int page);
    sim_response reject(request_record& rec);

    sim_options opts_;
    sim_state state_;
    double extra_delay_ = 0;  // a slow fault's delay, added to whatever this request answers
    bool truncate_ = false;   // a truncate fault: whatever this request answers is cut short
    std::uint64_t next_report_ = 7001;
    std::uint64_t next_file_ = 90001;
};

/// Splits "a=1&b=x%20y" into decoded pairs, in order ('+' is a space).
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q);

}  // namespace rostersync::lms_sim
