#include "roster/member_table.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>

namespace rostersync::roster {
namespace {

// ---------------------------------------------------------------------------------------------
// Role intern table: ids index fixed chunks that never move, so readers need no lock; the map
// from list to id is behind a mutex.

constexpr std::size_t chunk_bits = 10;
constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
constexpr std::size_t chunk_count = max_role_lists / chunk_size;

struct registry {
    std::mutex mu;
    std::unordered_map<std::string, role_list_id> ids;  // key: length-prefixed concatenation
    std::array<std::atomic<role_list*>, chunk_count> chunks{};
    std::uint32_t count = 0;
};

registry& reg()
{
    static registry& r = *new registry;  // never destroyed: tables may outlive static destruction
    return r;
}

void put_varint(std::string& out, std::size_t v)
{
    while (v >= 0x80) {
        out.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

std::string key_of(const std::vector<std::string>& roles)
{
    std::string key;
    for (const auto& r : roles) {
        put_varint(key, r.size());
        key += r;
    }
    return key;
}

role_list_id intern_locked(registry& r, const std::vector<std::string>& roles)
{
    std::string key = key_of(roles);
    if (auto it = r.ids.find(key); it != r.ids.end()) return it->second;
    std::vector<std::string> set = roles;
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    const bool is_set = set == roles;
    if (r.count + (is_set ? 1u : 2u) > max_role_lists) return no_role_list;
    const role_list_id set_id = is_set ? r.count : intern_locked(r, set);
    const role_list_id id = r.count;
    auto& chunk = r.chunks[id >> chunk_bits];
    role_list* entries = chunk.load(std::memory_order_relaxed);
    if (entries == nullptr) {
        entries = new role_list[chunk_size];
        chunk.store(entries, std::memory_order_release);
    }
    entries[id & (chunk_size - 1)] = role_list{.roles = roles, .set = set_id};
    r.ids.emplace(std::move(key), id);
    ++r.count;
    return id;
}

// ---------------------------------------------------------------------------------------------
// Keys

constexpr std::uint8_t kind_empty = 0;
constexpr std::uint8_t kind_inline_max = 17;  // 1 + 16 bytes
constexpr std::uint8_t kind_uuid_lower = 18;
constexpr std::uint8_t kind_uuid_upper = 19;
constexpr std::uint8_t kind_heap = 20;
constexpr std::size_t uuid_length = 36;

int hex_value(char c, bool& lower, bool& upper)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') {
        lower = true;
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        upper = true;
        return c - 'A' + 10;
    }
    return -1;
}

bool is_dash_position(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

/// A canonical UUID (8-4-4-4-12 hex digits, one letter case) as 16 bytes.
std::uint8_t pack_uuid(std::string_view s, unsigned char* out)
{
    if (s.size() != uuid_length) return kind_empty;
    bool lower = false, upper = false;
    std::size_t o = 0;
    for (std::size_t i = 0; i < uuid_length;) {
        if (is_dash_position(i)) {
            if (s[i] != '-') return kind_empty;
            ++i;
            continue;
        }
        const int hi = hex_value(s[i], lower, upper);
        const int lo = hex_value(s[i + 1], lower, upper);
        if (hi < 0 || lo < 0) return kind_empty;
        out[o++] = static_cast<unsigned char>(hi << 4 | lo);
        i += 2;
    }
    if (lower && upper) return kind_empty;
    return upper ? kind_uuid_upper : kind_uuid_lower;
}

void unpack_uuid(const unsigned char* in, bool upper, char* out)
{
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::size_t b = 0;
    for (std::size_t i = 0; i < uuid_length;) {
        if (is_dash_position(i)) {
            out[i++] = '-';
            continue;
        }
        out[i++] = digits[in[b] >> 4];
        out[i++] = digits[in[b] & 0xf];
        ++b;
    }
}

struct heap_key {
    const char* data;
    std::uint32_t size;
};

heap_key read_heap_key(const detail::member_slot& s)
{
    heap_key k;
    std::memcpy(&k.data, s.key, sizeof(k.data));
    std::memcpy(&k.size, s.key + sizeof(k.data), sizeof(k.size));
    return k;
}

void write_heap_key(detail::member_slot& s, const char* data, std::uint32_t size)
{
    std::memcpy(s.key, &data, sizeof(data));
    std::memcpy(s.key + sizeof(data), &size, sizeof(size));
}

/// The key as text; `buf` holds an unpacked UUID.
std::string_view key_text(const detail::member_slot& s, char (&buf)[uuid_length])
{
    if (s.kind <= kind_inline_max) return {reinterpret_cast<const char*>(s.key), std::size_t{s.kind} - 1u};
    if (s.kind == kind_heap) {
        auto k = read_heap_key(s);
        return {k.data, k.size};
    }
    unpack_uuid(s.key, s.kind == kind_uuid_upper, buf);
    return {buf, uuid_length};
}

std::uint32_t hash_text(std::string_view s)
{
    const std::size_t h = std::hash<std::string_view>{}(s);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
}

// ---------------------------------------------------------------------------------------------
// Status and flags

constexpr std::uint8_t status_mask = 0x3;
constexpr std::uint8_t provisional_bit = 0x4;

member_status status_code_of(std::string_view s)
{
    if (s == "Active") return member_status::active;
    if (s == "Inactive") return member_status::inactive;
    if (s == "Deleted") return member_status::deleted;
    return member_status::other;
}

// ---------------------------------------------------------------------------------------------
// Profile blocks: a 2-byte mask, then the present items in bit order: the eight profile fields
// (varint length + bytes), the launch time (8 bytes), an unusual status (varint length + bytes),
// roles the intern table had no room for (varint count, then each as varint length + bytes).

constexpr unsigned bit_launch = 8;
constexpr unsigned bit_status = 9;
constexpr unsigned bit_roles = 10;

std::size_t varint_size(std::size_t v)
{
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

unsigned char* put_varint(unsigned char* p, std::size_t v)
{
    while (v >= 0x80) {
        *p++ = static_cast<unsigned char>(v | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<unsigned char>(v);
    return p;
}

std::size_t get_varint(const unsigned char*& p)
{
    std::size_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        const unsigned char b = *p++;
        v |= static_cast<std::size_t>(b & 0x7f) << shift;
        if ((b & 0x80) == 0) return v;
    }
}

std::string_view get_string(const unsigned char*& p)
{
    const std::size_t n = get_varint(p);
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
}

unsigned char* put_string(unsigned char* p, std::string_view s)
{
    p = put_varint(p, s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

std::uint16_t block_mask(const unsigned char* b)
{
    std::uint16_t mask;
    std::memcpy(&mask, b, sizeof(mask));
    return mask;
}

unsigned char* build_block(const nrps::member& r, bool keep_status, std::optional<time_point> launch,
                           bool keep_roles)
{
    std::uint16_t mask = 0;
    std::size_t n = sizeof(mask);
    for (std::size_t i = 0; i < profile_fields.size(); ++i) {
        if (const auto& v = r.*profile_fields[i].second) {
            mask |= static_cast<std::uint16_t>(1u << i);
            n += varint_size(v->size()) + v->size();
        }
    }
    if (launch) {
        mask |= 1u << bit_launch;
        n += sizeof(time_point::rep);
    }
    if (keep_status) {
        mask |= 1u << bit_status;
        n += varint_size(r.status.size()) + r.status.size();
    }
    if (keep_roles) {
        mask |= 1u << bit_roles;
        n += varint_size(r.roles.size());
        for (const auto& role : r.roles) n += varint_size(role.size()) + role.size();
    }
    if (mask == 0) return nullptr;
    auto* block = static_cast<unsigned char*>(::operator new(n));
    unsigned char* p = block;
    std::memcpy(p, &mask, sizeof(mask));
    p += sizeof(mask);
    for (std::size_t i = 0; i < profile_fields.size(); ++i)
        if (const auto& v = r.*profile_fields[i].second) p = put_string(p, *v);
    if (launch) {
        const time_point::rep t = launch->time_since_epoch().count();
        std::memcpy(p, &t, sizeof(t));
        p += sizeof(t);
    }
    if (keep_status) p = put_string(p, r.status);
    if (keep_roles) {
        p = put_varint(p, r.roles.size());
        for (const auto& role : r.roles) p = put_string(p, role);
    }
    return block;
}

/// A block read back; `roles` only when asked (it allocates).
struct block_items {
    profile_values fields;
    std::optional<time_point> launch;
    std::optional<std::string_view> status;
    std::vector<std::string_view> roles;
    const unsigned char* end = nullptr;
};

enum class read_upto { profile, all };

block_items read_block(const unsigned char* b, read_upto upto)
{
    block_items out;
    if (b == nullptr) return out;
    const std::uint16_t mask = block_mask(b);
    const unsigned char* p = b + sizeof(mask);
    for (std::size_t i = 0; i < profile_fields.size(); ++i)
        if (mask & (1u << i)) out.fields[i] = get_string(p);
    if (upto == read_upto::profile) return out;
    if (mask & (1u << bit_launch)) {
        time_point::rep t;
        std::memcpy(&t, p, sizeof(t));
        p += sizeof(t);
        out.launch = time_point(time_point::duration(t));
    }
    if (mask & (1u << bit_status)) out.status = get_string(p);
    if (mask & (1u << bit_roles)) {
        const std::size_t n = get_varint(p);
        out.roles.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.roles.push_back(get_string(p));
    }
    out.end = p;
    return out;
}

std::size_t block_size(const unsigned char* b)
{
    if (b == nullptr) return 0;
    return static_cast<std::size_t>(read_block(b, read_upto::all).end - b);
}

unsigned char* copy_block(const unsigned char* b)
{
    if (b == nullptr) return nullptr;
    const std::size_t n = block_size(b);
    auto* out = static_cast<unsigned char*>(::operator new(n));
    std::memcpy(out, b, n);
    return out;
}

void free_block(unsigned char* b)
{
    ::operator delete(b);
}

/// Owns a new block until a slot takes it.
struct block_owner {
    unsigned char* p;
    ~block_owner() { free_block(p); }
    unsigned char* take() { return std::exchange(p, nullptr); }
};

bool same_set(std::vector<std::string_view> a, std::vector<std::string_view> b)
{
    std::sort(a.begin(), a.end());
    a.erase(std::unique(a.begin(), a.end()), a.end());
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    return a == b;
}

constexpr std::uint16_t max_dist = 0xfffe;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Role lists

role_list_id intern_roles(const std::vector<std::string>& roles)
{
    thread_local std::array<role_list_id, 4> recent{no_role_list, no_role_list, no_role_list, no_role_list};
    thread_local unsigned next = 0;
    for (role_list_id id : recent)
        if (id != no_role_list && role_list_at(id).roles == roles) return id;
    auto& r = reg();
    role_list_id id;
    {
        std::lock_guard lock(r.mu);
        id = intern_locked(r, roles);
    }
    if (id != no_role_list) recent[next++ % recent.size()] = id;
    return id;
}

const role_list& role_list_at(role_list_id id)
{
    return reg().chunks[id >> chunk_bits].load(std::memory_order_acquire)[id & (chunk_size - 1)];
}

std::size_t role_lists_interned()
{
    auto& r = reg();
    std::lock_guard lock(r.mu);
    return r.count;
}

std::size_t role_lists_bytes()
{
    auto& r = reg();
    std::lock_guard lock(r.mu);
    std::size_t n = r.ids.bucket_count() * sizeof(void*);
    for (const auto& [key, id] : r.ids) {
        n += sizeof(std::pair<const std::string, role_list_id>) + 2 * sizeof(void*) + key.capacity();
        for (const auto& role : role_list_at(id).roles) n += sizeof(std::string) + role.capacity();
    }
    for (const auto& c : r.chunks)
        if (c.load(std::memory_order_relaxed)) n += chunk_size * sizeof(role_list);
    return n;
}

// ---------------------------------------------------------------------------------------------
// member_view

std::string member_view::user_id() const
{
    char buf[uuid_length];
    return std::string(key_text(*s_, buf));
}

member_status member_view::status_code() const
{
    return static_cast<member_status>(s_->status_flags & status_mask);
}

std::string_view member_view::status() const
{
    switch (status_code()) {
        case member_status::active: return "Active";
        case member_status::inactive: return "Inactive";
        case member_status::deleted: return "Deleted";
        case member_status::other: break;
    }
    return read_block(s_->block, read_upto::all).status.value_or("");
}

bool member_view::provisional() const { return (s_->status_flags & provisional_bit) != 0; }
bool member_view::marked() const { return (s_->status_flags & member_table::marked_bit) != 0; }

std::optional<time_point> member_view::launch_seen_at() const
{
    if (s_->block == nullptr || !(block_mask(s_->block) & (1u << bit_launch))) return std::nullopt;
    return read_block(s_->block, read_upto::all).launch;
}

role_list_id member_view::roles_id() const { return s_->roles; }

std::vector<std::string> member_view::roles() const
{
    if (s_->roles != no_role_list) return role_list_at(s_->roles).roles;
    auto items = read_block(s_->block, read_upto::all);
    return {items.roles.begin(), items.roles.end()};
}

bool member_view::same_role_set(const std::vector<std::string>& roles) const
{
    const std::vector<std::string_view> views(roles.begin(), roles.end());
    return same_role_set(std::span<const std::string_view>(views));
}

bool member_view::same_role_set(std::span<const std::string_view> roles) const
{
    if (s_->roles == no_role_list)
        return same_set(read_block(s_->block, read_upto::all).roles, {roles.begin(), roles.end()});
    const role_list& mine = role_list_at(s_->roles);
    // The usual case: the platform sends the same list.
    if (std::equal(mine.roles.begin(), mine.roles.end(), roles.begin(), roles.end())) return true;
    std::vector<std::string_view> theirs(roles.begin(), roles.end());
    std::sort(theirs.begin(), theirs.end());
    theirs.erase(std::unique(theirs.begin(), theirs.end()), theirs.end());
    const auto& set = role_list_at(mine.set).roles;  // sorted, unique
    return std::equal(set.begin(), set.end(), theirs.begin(), theirs.end());
}

profile_values member_view::profile() const { return read_block(s_->block, read_upto::profile).fields; }

nrps::member member_view::record() const
{
    nrps::member m;
    m.user_id = user_id();
    auto items = read_block(s_->block, read_upto::all);
    if (status_code() == member_status::other) m.status = std::string(items.status.value_or(""));
    else m.status = std::string(status());
    if (s_->roles != no_role_list) m.roles = role_list_at(s_->roles).roles;
    else m.roles.assign(items.roles.begin(), items.roles.end());
    for (std::size_t i = 0; i < profile_fields.size(); ++i)
        if (items.fields[i]) m.*profile_fields[i].second = std::string(*items.fields[i]);
    return m;
}

member_state member_view::state() const { return {record(), provisional(), launch_seen_at()}; }

// ---------------------------------------------------------------------------------------------
// member_table

member_table::key::key(std::string_view user_id) : text_(user_id), hash_(hash_text(user_id))
{
    if (user_id.size() <= sizeof(bytes_)) {
        kind_ = static_cast<std::uint8_t>(user_id.size() + 1);
        if (!user_id.empty()) std::memcpy(bytes_, user_id.data(), user_id.size());
    } else if (auto k = pack_uuid(user_id, bytes_); k != kind_empty) {
        kind_ = k;
    } else {
        kind_ = kind_heap;
    }
}

std::size_t member_table::locate(const key& p) const
{
    if (capacity_ == 0) return capacity_;
    std::size_t i = (std::uint64_t{p.hash_} * capacity_) >> 32;
    for (std::uint32_t d = 0;; ++d) {
        const slot& s = slots_[i];
        if (s.kind == kind_empty || s.dist < d) return capacity_;
        if (s.kind == p.kind_) {
            if (p.kind_ == kind_heap) {
                auto k = read_heap_key(s);
                if (k.size == p.text_.size() && std::memcmp(k.data, p.text_.data(), k.size) == 0) return i;
            } else if (std::memcmp(s.key, p.bytes_, sizeof(s.key)) == 0) {
                return i;
            }
        }
        if (++i == capacity_) i = 0;
    }
}

// Robin Hood insertion of a key known to be absent: find the first slot whose occupant is closer
// to its home than we are (or empty), shift the run from there up to the next empty slot right by
// one, and put the new slot in the gap. Nothing moves when a distance would overflow.
namespace {
bool place_in(detail::member_slot* slots, std::uint32_t capacity, detail::member_slot s, std::uint32_t hash)
{
    std::size_t i = (std::uint64_t{hash} * capacity) >> 32;
    std::uint32_t d = 0;
    while (slots[i].kind != kind_empty && slots[i].dist >= d) {
        if (++i == capacity) i = 0;
        ++d;
    }
    if (d > max_dist) return false;
    std::size_t e = i;
    while (slots[e].kind != kind_empty) {
        if (slots[e].dist >= max_dist) return false;
        if (++e == capacity) e = 0;
    }
    while (e != i) {
        const std::size_t prev = e == 0 ? capacity - 1 : e - 1;
        slots[e] = slots[prev];
        ++slots[e].dist;
        e = prev;
    }
    s.dist = static_cast<std::uint16_t>(d);
    slots[i] = s;
    return true;
}

std::uint32_t slot_hash(const detail::member_slot& s)
{
    char buf[uuid_length];
    return hash_text(key_text(s, buf));
}
}  // namespace

bool member_table::place(slot s, std::uint32_t hash) { return place_in(slots_.get(), capacity_, s, hash); }

void member_table::grow(std::size_t min_capacity)
{
    // A distance can overflow only when very many keys share a hash; more room is the remedy, and
    // when even 16 times the members is not enough the table refuses.
    for (std::size_t cap = std::max<std::size_t>(min_capacity, 4);; cap *= 2) {
        if (cap > 0xffffffffu || cap > 16 * (std::size_t{size_} + 16))
            throw std::length_error("member_table: too many user_ids share a hash");
        std::unique_ptr<slot[]> fresh(new slot[cap]());
        bool ok = true;
        for (std::size_t i = 0; i < capacity_ && ok; ++i)
            if (slots_[i].kind != kind_empty)
                ok = place_in(fresh.get(), static_cast<std::uint32_t>(cap), slots_[i], slot_hash(slots_[i]));
        if (!ok) continue;
        slots_ = std::move(fresh);  // the slots moved as plain bytes: ownership moves with them
        capacity_ = static_cast<std::uint32_t>(cap);
        return;
    }
}

void member_table::insert_new(slot s, std::uint32_t hash)
{
    // At most 90 % full; grow by half.
    if ((std::size_t{size_} + 1) * 10 > std::size_t{capacity_} * 9)
        grow(std::max<std::size_t>((std::size_t{size_} + 1) * 10 / 9 + 1, std::size_t{capacity_} * 3 / 2));
    while (!place(s, hash)) grow(std::size_t{capacity_} * 2);
}

void member_table::release(slot& s)
{
    if (s.kind == kind_heap) delete[] read_heap_key(s).data;
    free_block(s.block);
    s = slot{};
}

bool member_table::insert_or_assign(std::string_view user_id, const nrps::member& record, bool provisional,
                                    std::optional<time_point> launch_seen_at, bool marked)
{
    const member_status status = status_code_of(record.status);
    const role_list_id roles = intern_roles(record.roles);
    block_owner block{build_block(record, status == member_status::other, launch_seen_at, roles == no_role_list)};
    const auto flags = static_cast<std::uint8_t>(static_cast<std::uint8_t>(status) | (provisional ? provisional_bit : 0) |
                                                 (marked ? marked_bit : 0));
    const key p(user_id);
    if (const std::size_t i = locate(p); i != capacity_) {
        slot& s = slots_[i];
        provisional_ -= (s.status_flags & provisional_bit) != 0;
        provisional_ += provisional;
        free_block(s.block);
        s.block = block.take();
        s.roles = roles;
        s.status_flags = flags;
        return false;
    }
    if (user_id.size() > 0xffffffffu) throw std::length_error("member_table: user_id too long");
    slot s{};
    s.kind = p.kind_;
    std::memcpy(s.key, p.bytes_, sizeof(s.key));
    std::unique_ptr<char[]> heap;
    if (p.kind_ == kind_heap) {
        heap.reset(new char[user_id.size()]);
        std::memcpy(heap.get(), user_id.data(), user_id.size());
        write_heap_key(s, heap.get(), static_cast<std::uint32_t>(user_id.size()));
    }
    s.roles = roles;
    s.status_flags = flags;
    s.block = block.p;
    insert_new(s, p.hash_);  // may throw: then block and heap still own their memory
    block.take();
    heap.release();
    ++size_;
    provisional_ += provisional;
    return true;
}

bool member_table::erase(std::string_view user_id)
{
    std::size_t i = locate(key(user_id));
    if (i == capacity_) return false;
    provisional_ -= (slots_[i].status_flags & provisional_bit) != 0;
    release(slots_[i]);
    --size_;
    // Backward shift: pull the following run one step towards home.
    for (;;) {
        std::size_t j = i + 1 == capacity_ ? 0 : i + 1;
        if (slots_[j].kind == kind_empty || slots_[j].dist == 0) break;
        slots_[i] = slots_[j];
        --slots_[i].dist;
        i = j;
    }
    slots_[i] = slot{};
    return true;
}

std::optional<member_view> member_table::find(const key& k) const
{
    const std::size_t i = locate(k);
    if (i == capacity_) return std::nullopt;
    return member_view(slots_[i], i);
}

void member_table::prefetch(const key& k) const noexcept
{
    if (capacity_ == 0) return;
    __builtin_prefetch(&slots_[(std::uint64_t{k.hash_} * capacity_) >> 32]);
}

std::optional<member_state> member_table::get(std::string_view user_id) const
{
    if (auto v = find(user_id)) return v->state();
    return std::nullopt;
}

member_state member_table::at(std::string_view user_id) const
{
    auto v = find(user_id);
    if (!v) throw std::out_of_range("member_table::at: no such member");
    return v->state();
}

void member_table::clear()
{
    for (std::size_t i = 0; i < capacity_; ++i)
        if (slots_[i].kind != kind_empty) release(slots_[i]);
    slots_.reset();
    capacity_ = size_ = provisional_ = 0;
}

void member_table::reserve(std::size_t n)
{
    const std::size_t need = n * 10 / 9 + 1;
    if (need > capacity_) grow(need);
}

member_table::memory member_table::memory_usage() const
{
    memory m;
    m.slots = std::size_t{capacity_} * sizeof(slot);
    for_each([&](member_view v) {
        const slot& s = slots_[v.position()];
        if (s.kind == kind_heap) m.keys += read_heap_key(s).size;
        m.profiles += block_size(s.block);
    });
    return m;
}

member_table::member_table(const member_table& other)
{
    if (other.capacity_ == 0) return;
    slots_.reset(new slot[other.capacity_]());
    capacity_ = other.capacity_;
    try {
        for (std::size_t i = 0; i < capacity_; ++i) {
            const slot& o = other.slots_[i];
            if (o.kind == kind_empty) continue;
            slot s = o;
            s.block = nullptr;
            if (o.kind == kind_heap) {
                auto k = read_heap_key(o);
                auto* data = new char[k.size];
                std::memcpy(data, k.data, k.size);
                write_heap_key(s, data, k.size);
            }
            slots_[i] = s;  // owns its key from here
            slots_[i].block = copy_block(o.block);
        }
    } catch (...) {
        clear();
        throw;
    }
    size_ = other.size_;
    provisional_ = other.provisional_;
}

member_table::member_table(member_table&& other) noexcept
    : slots_(std::move(other.slots_)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)),
      provisional_(std::exchange(other.provisional_, 0))
{
}

member_table& member_table::operator=(const member_table& other)
{
    if (this != &other) {
        member_table copy(other);
        *this = std::move(copy);
    }
    return *this;
}

member_table& member_table::operator=(member_table&& other) noexcept
{
    if (this != &other) {
        clear();
        slots_ = std::move(other.slots_);
        capacity_ = std::exchange(other.capacity_, 0);
        size_ = std::exchange(other.size_, 0);
        provisional_ = std::exchange(other.provisional_, 0);
    }
    return *this;
}

member_table::~member_table() { clear(); }

}  // namespace rostersync::roster
