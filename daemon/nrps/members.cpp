// File: nrps/members.cpp
//
// member_ref and member_list: materialising, comparing, copying members in and merging pages.

#include "nrps/page.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace rostersync::nrps {
namespace {

void put(std::optional<std::string>& to, const std::optional<std::string_view>& from)
{
    if (from) to.emplace(*from);
}

bool same(const std::optional<std::string_view>& a, const std::optional<std::string>& b)
{
    return a.has_value() == b.has_value() && (!a || *a == *b);
}

}  // namespace

member member_ref::to_member() const
{
    member m;
    m.user_id.assign(user_id);
    m.status.assign(status);
    m.roles.reserve(roles.size());
    for (std::string_view r : roles) m.roles.emplace_back(r);
    put(m.name, name);
    put(m.given_name, given_name);
    put(m.family_name, family_name);
    put(m.middle_name, middle_name);
    put(m.email, email);
    put(m.picture, picture);
    put(m.lis_person_sourcedid, lis_person_sourcedid);
    put(m.lti11_legacy_user_id, lti11_legacy_user_id);
    return m;
}

bool operator==(const member_ref& a, const member& b)
{
    return a.user_id == b.user_id && a.status == b.status && a.roles == b.roles && same(a.name, b.name) &&
           same(a.given_name, b.given_name) && same(a.family_name, b.family_name) &&
           same(a.middle_name, b.middle_name) && same(a.email, b.email) && same(a.picture, b.picture) &&
           same(a.lis_person_sourcedid, b.lis_person_sourcedid) &&
           same(a.lti11_legacy_user_id, b.lti11_legacy_user_id);
}

member_list::member_list(const std::vector<member>& members)
{
    refs_.reserve(members.size());
    for (const auto& m : members) push_back(m);
}

void member_list::push_back(const member& m)
{
    const std::optional<std::string>* profile[] = {&m.name,  &m.given_name, &m.family_name,
                                                   &m.middle_name, &m.email, &m.picture,
                                                   &m.lis_person_sourcedid, &m.lti11_legacy_user_id};
    std::size_t bytes = m.user_id.size() + m.status.size();
    for (const auto& r : m.roles) bytes += r.size();
    for (const auto* f : profile)
        if (*f) bytes += (*f)->size();

    // Bump allocation in blocks of at least 16 KiB (text) and 1,024 role views, like a page's.
    if (bytes > text_left_ || m.roles.size() > roles_left_) {
        block b;
        if (bytes > text_left_) {
            text_left_ = std::max<std::size_t>(bytes, 16 * 1024);
            b.text.reset(static_cast<char*>(std::malloc(text_left_)));
            if (!b.text) throw std::bad_alloc();
            text_next_ = b.text.get();
        }
        if (m.roles.size() > roles_left_) {
            roles_left_ = std::max<std::size_t>(m.roles.size(), 1024);
            b.roles = std::make_unique<std::string_view[]>(roles_left_);
            roles_next_ = b.roles.get();
        }
        blocks_.push_back(std::move(b));
    }
    auto put = [this](const std::string& s) {
        if (!s.empty()) std::memcpy(text_next_, s.data(), s.size());
        std::string_view v(text_next_, s.size());
        text_next_ += s.size();
        text_left_ -= s.size();
        return v;
    };

    member_ref r;
    r.user_id = put(m.user_id);
    r.status = put(m.status);
    for (std::size_t i = 0; i < m.roles.size(); ++i) roles_next_[i] = put(m.roles[i]);
    r.roles = role_views(roles_next_, m.roles.size());
    roles_next_ += m.roles.size();
    roles_left_ -= m.roles.size();
    std::optional<std::string_view>* out[] = {&r.name,  &r.given_name, &r.family_name,
                                              &r.middle_name, &r.email, &r.picture,
                                              &r.lis_person_sourcedid, &r.lti11_legacy_user_id};
    for (std::size_t i = 0; i < std::size(profile); ++i)
        if (*profile[i]) *out[i] = put(**profile[i]);
    refs_.push_back(r);
}

std::size_t member_list::merge(member_list&& more, member_index& index)
{
    // The text first: from here on every view in `more` points into blocks this list owns.
    blocks_.reserve(blocks_.size() + more.blocks_.size());
    for (auto& b : more.blocks_) blocks_.push_back(std::move(b));
    more.blocks_.clear();
    more.text_left_ = more.roles_left_ = 0;  // its room went with its blocks
    refs_.reserve(refs_.size() + more.refs_.size());
    std::size_t replaced = 0;
    for (const member_ref& m : more.refs_) {
        auto [it, fresh] = index.try_emplace(m.user_id, refs_.size());
        if (fresh) {
            refs_.push_back(m);
        } else {
            refs_[it->second] = m;
            ++replaced;
        }
    }
    more.refs_.clear();
    return replaced;
}

std::vector<member> member_list::to_members() const
{
    std::vector<member> out;
    out.reserve(refs_.size());
    for (const auto& r : refs_) out.push_back(r.to_member());
    return out;
}

}  // namespace rostersync::nrps
