#include "lms_sim/world.hpp"

#include <algorithm>
#include <array>
#include <iterator>

namespace rostersync::lms_sim {
namespace {

constexpr const char* lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#";

constexpr std::array<const char*, 12> given_names{
    "Ada", "Bo", "Chidi", "Dana", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea"};
constexpr std::array<const char*, 10> family_names{
    "Okafor", "Lindqvist", "Nakamura", "Rossi", "Haddad", "Novak", "Silva", "Kowalski", "Dubois", "Moreau"};

}  // namespace

std::vector<std::string> lti_roles(const member& m)
{
    std::vector<std::string> out;
    auto add = [&](std::string r) {
        if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(std::move(r));
    };
    for (auto e : m.enrollments) {
        switch (e) {
            case enrollment::student: add(std::string(lis) + "Learner"); break;
            case enrollment::teacher: add(std::string(lis) + "Instructor"); break;
            case enrollment::ta:
                add("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant");
                add(std::string(lis) + "Instructor");
                break;
            case enrollment::designer: add(std::string(lis) + "ContentDeveloper"); break;
            case enrollment::observer: add(std::string(lis) + "Mentor"); break;
            case enrollment::test_student:
                add(std::string(lis) + "Learner");
                add("http://purl.imsglobal.org/vocab/lti/system/person#TestUser");
                break;
            case enrollment::group_member: add(std::string(lis) + "Member"); break;
            case enrollment::group_leader:
                add(std::string(lis) + "Member");
                add(std::string(lis) + "Manager");
                break;
        }
    }
    return out;
}

std::vector<expected_change> diff(const snapshot& before, const snapshot& after)
{
    std::vector<expected_change> out;
    auto role_set = [](const member& m) {
        auto r = lti_roles(m);
        return std::set<std::string>(r.begin(), r.end());
    };
    auto profile = [](const person& p) {
        return std::tie(p.name, p.given_name, p.family_name, p.email, p.picture, p.sourcedid);
    };
    for (const auto& [uid, m] : after) {
        auto it = before.find(uid);
        if (it == before.end()) {
            out.push_back({uid, "member.added"});
            continue;
        }
        if (role_set(it->second) != role_set(m)) out.push_back({uid, "member.roles_changed"});
        if (profile(it->second.who) != profile(m.who)) out.push_back({uid, "member.profile_changed"});
    }
    for (const auto& [uid, m] : before) {
        if (!after.count(uid)) out.push_back({uid, "member.removed"});
    }
    return out;
}

world::world(std::uint64_t seed) : rng_(seed) {}

std::string world::hex(std::size_t n)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += digits[rng_() % 16];
    return s;
}

person world::make_person(bool missing_name, bool missing_email)
{
    person p;
    p.canvas_id = next_user_++;
    auto u = hex(32);
    p.user_id = u.substr(0, 8) + "-" + u.substr(8, 4) + "-4" + u.substr(13, 3) + "-a" + u.substr(17, 3) +
                "-" + u.substr(20, 12);
    p.lti11_id = hex(40);
    if (!missing_name) {
        p.given_name = given_names[rng_() % given_names.size()];
        p.family_name = family_names[rng_() % family_names.size()];
        p.name = p.given_name + " " + p.family_name;
        p.sourcedid = "SIS" + std::to_string(p.canvas_id);
    }
    if (!missing_email) {
        std::string local = missing_name ? "user" : p.given_name + "." + p.family_name;
        std::transform(local.begin(), local.end(), local.begin(), ::tolower);
        p.email = local + "." + std::to_string(p.canvas_id) + "@example.edu";
    }
    p.picture = "https://canvas.example.edu/images/thumbnails/" + std::to_string(p.canvas_id) + ".png";
    return p;
}

context& world::add_course(const course_spec& spec)
{
    context c;
    c.id = next_course_++;
    c.context_id = hex(40);
    c.label = "C" + std::to_string(c.id);
    c.title = spec.title.empty() ? "Course " + std::to_string(c.id) : spec.title;
    c.account_id = spec.account_id;
    c.term_id = spec.term_id;
    c.state = spec.state;
    c.resource_links.insert(hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12));
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < spec.size; ++i) {
        member m;
        m.who = make_person(u(rng_) < spec.missing_name_share, u(rng_) < spec.missing_email_share);
        double r = u(rng_);
        double t = spec.teacher_share, ta = t + spec.ta_share, ob = ta + spec.observer_share,
               de = ob + spec.designer_share;
        m.enrollments.insert(r < t    ? enrollment::teacher
                             : r < ta ? enrollment::ta
                             : r < ob ? enrollment::observer
                             : r < de ? enrollment::designer
                                      : enrollment::student);
        c.members.emplace(m.who.canvas_id, std::move(m));
    }
    if (spec.test_student) {
        member m;
        m.who = make_person(false, true);
        m.who.name = m.who.given_name = "Test";
        m.who.family_name = "Student";
        m.who.name = "Test Student";
        m.enrollments.insert(enrollment::test_student);
        c.members.emplace(m.who.canvas_id, std::move(m));
    }
    auto id = c.id;
    return courses_[id] = std::move(c);
}

context& world::add_group(int size)
{
    context g;
    g.group = true;
    g.id = next_group_++;
    g.context_id = hex(40);
    g.title = "Group " + std::to_string(g.id);
    for (int i = 0; i < size; ++i) {
        member m;
        m.who = make_person(false, false);
        m.enrollments.insert(i == 0 ? enrollment::group_leader : enrollment::group_member);
        g.members.emplace(m.who.canvas_id, std::move(m));
    }
    auto id = g.id;
    return groups_[id] = std::move(g);
}

context* world::find(bool group, std::uint64_t id)
{
    auto& map = group ? groups_ : courses_;
    auto it = map.find(id);
    return it == map.end() ? nullptr : &it->second;
}

snapshot world::snapshot_of(std::uint64_t id, bool group) const
{
    const auto& map = group ? groups_ : courses_;
    snapshot s;
    if (auto it = map.find(id); it != map.end() && !it->second.deleted) {
        for (const auto& [cid, m] : it->second.members) s.emplace(m.who.user_id, m);
    }
    return s;
}

void world::churn(std::uint64_t id, const churn_spec& spec, bool group)
{
    context* c = find(group, id);
    if (c == nullptr) return;
    auto pick = [&]() -> member* {
        if (c->members.empty()) return nullptr;
        auto it = c->members.begin();
        std::advance(it, static_cast<long>(rng_() % c->members.size()));
        return &it->second;
    };
    for (int i = 0; i < spec.drops && !c->members.empty(); ++i) {
        auto it = c->members.begin();
        std::advance(it, static_cast<long>(rng_() % c->members.size()));
        touch(*c, it->second.who.user_id);
        c->members.erase(it);
    }
    std::set<std::uint64_t> touched;
    for (int i = 0; i < spec.role_changes; ++i) {
        member* m = pick();
        if (m == nullptr || !touched.insert(m->who.canvas_id).second) continue;
        touch(*c, m->who.user_id);
        if (group) {
            bool leader = m->enrollments.count(enrollment::group_leader) != 0;
            m->enrollments = {leader ? enrollment::group_member : enrollment::group_leader};
        } else if (m->enrollments.count(enrollment::ta)) {
            m->enrollments = {enrollment::student};
        } else {
            m->enrollments = {enrollment::ta};
        }
    }
    for (int i = 0; i < spec.profile_changes; ++i) {
        member* m = pick();
        if (m == nullptr) continue;
        touch(*c, m->who.user_id);
        m->who.email = "changed." + std::to_string(m->who.canvas_id) + "." + std::to_string(i) +
                       "@example.edu";
    }
    for (int i = 0; i < spec.joins; ++i) {
        member m;
        m.who = make_person(false, false);
        m.enrollments.insert(group ? enrollment::group_member : enrollment::student);
        touch(*c, m.who.user_id);
        c->members.emplace(m.who.canvas_id, std::move(m));
    }
}

void world::drop_first(std::uint64_t id, bool group)
{
    if (context* c = find(group, id); c != nullptr && !c->members.empty()) {
        touch(*c, c->members.begin()->second.who.user_id);
        c->members.erase(c->members.begin());
    }
}

void world::empty(std::uint64_t id, bool group)
{
    if (context* c = find(group, id)) {
        for (const auto& [cid, m] : c->members) touch(*c, m.who.user_id);
        c->members.clear();
    }
}

void world::deactivate(std::uint64_t id, const std::string& user_id, bool group)
{
    if (context* c = find(group, id)) {
        c->inactive.insert(user_id);
        touch(*c, user_id);
    }
}

account& world::add_account(std::uint64_t parent, std::string name)
{
    const auto id = next_account_++;
    return accounts_[id] = account{.id = id, .parent = parent, .name = std::move(name)};
}

const account* world::find_account(std::uint64_t id) const
{
    auto it = accounts_.find(id);
    return it == accounts_.end() ? nullptr : &it->second;
}

std::set<std::uint64_t> world::account_tree(std::uint64_t id) const
{
    std::set<std::uint64_t> out;
    if (!accounts_.count(id)) return out;
    out.insert(id);
    // Parents have smaller ids than their children, so one ordered sweep finds every descendant.
    for (const auto& [aid, a] : accounts_)
        if (out.count(a.parent)) out.insert(aid);
    return out;
}

void world::remove_context(std::uint64_t id, bool group)
{
    if (context* c = find(group, id)) {
        c->deleted = true;
        if (!group) c->state = "deleted";
    }
}

}  // namespace rostersync::lms_sim
