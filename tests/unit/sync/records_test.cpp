// Regressions found by fuzzing the record decoders (tests/fuzz/records_fuzz.cpp; the inputs are
// kept in tests/fuzz/corpus/records/): what a decoder accepts, its encoder writes back the same,
// and the scheduler can go on with it without overflowing.
#include "sync/records.hpp"

#include "config/config.hpp"
#include "sync/schedule.hpp"
#include "sync/state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace rostersync::sync {
namespace {

using namespace std::chrono_literals;

TEST(RecordsDecode, CheckpointPartitionBeyondInt32IsRefused)
{
    // crash-checkpoint-partition-int32: 2147483648 was cast to partition -2147483648, which the
    // encoder wrote and the decoder then refused.
    auto c = decode_checkpoint(R"({"partition": 2147483648, "changes_offset": "12"})");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), "partition: out of range");
    auto max = decode_checkpoint(R"({"partition": 2147483647, "changes_offset": "12"})");
    ASSERT_TRUE(max) << max.error();
    EXPECT_EQ(max->partition, std::numeric_limits<std::int32_t>::max());
    auto again = decode_checkpoint(encode_checkpoint(*max));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->partition, max->partition);
    EXPECT_EQ(again->changes_offset, 12);
}

TEST(RecordsDecode, IntegerStringsMustBeWholeIntegers)
{
    // std::stoll read "999999999.9999III999999" as 999999999 and " 12" as 12.
    for (const char* bad :
         {"999999999.9999III999999", "12abc", " 12", "12 ", "1.5", "", "0x10", "+", "-"}) {
        auto c =
            decode_checkpoint(std::string(R"({"partition": 0, "changes_offset": ")") + bad + "\"}");
        ASSERT_FALSE(c) << bad;
        EXPECT_EQ(c.error(), "changes_offset: missing or not an integer") << bad;
    }
    auto ok = decode_checkpoint(R"({"partition": "3", "changes_offset": "1234"})");
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->partition, 3);
    EXPECT_EQ(ok->changes_offset, 1234);
    auto negative = decode_checkpoint(R"({"partition": 0, "changes_offset": "-1"})");
    ASSERT_FALSE(negative);
    EXPECT_EQ(negative.error(), "changes_offset: out of range");
    // Beyond int64 (as a string or as a JSON number): saturated, then range-checked.
    auto huge = decode_checkpoint(R"({"partition": 18446744073709551615, "changes_offset": "0"})");
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error(), "partition: out of range");
    auto version = decode_context(
        R"({"context_key": "k", "context": {"id": "c"}, "roster_version": "99999999999999999999"})"
    );
    ASSERT_FALSE(version);
    EXPECT_EQ(version.error(), "roster_version: out of range");
    auto members = decode_context(
        R"({"context_key": "k", "context": {"id": "c"}, "members": 18446744073709551615})"
    );
    ASSERT_TRUE(members) << members.error();
    EXPECT_EQ(
        members->members, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
    );
}

TEST(RecordsDecode, UnchangedPassesIsBoundedForTheScheduler)
{
    // crash-context-unchanged-passes-intmax: on_pass_finished added one to INT_MAX (UBSan: signed
    // integer overflow in sync/schedule.cpp).
    const auto now = roster::time_point{} + 1'795'773'603s;
    auto c = decode_context(
        R"({"context_key": "k", "context": {"id": "c"}, "unchanged_passes": 2147483647})"
    );
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->schedule.unchanged_passes, 64);
    on_pass_started(c->schedule, now);
    on_pass_finished(c->schedule, now, false, schedule_params{});
    EXPECT_EQ(c->schedule.unchanged_passes, 30);
    EXPECT_GT(c->schedule.next_due, now);
    auto negative = decode_context(
        R"({"context_key": "k", "context": {"id": "c"}, "unchanged_passes": "-9223372036854775808"})"
    );
    ASSERT_TRUE(negative) << negative.error();
    EXPECT_EQ(negative->schedule.unchanged_passes, 0);
}

TEST(RecordsDecode, TimesAtOrBeforeTheEpochReadAsAbsent)
{
    // context_old_time: "1969-12-31T23:59:59.500Z" decoded to -0.5 s, which roster::rfc3339 wrote
    // back as "1970-01-01T00:00:00.-500Z"; the epoch itself is what put_time leaves out.
    const std::string text = R"({"context_key": "k", "context": {"id": "c"},
        "last_seen": "1969-12-31T23:59:59.500Z", "held_since": "1970-01-01T00:00:00Z",
        "last_pass_end": "2026-11-27T10:00:00.123Z",
        "candidates": {"u1": "1969-01-01T00:00:00Z", "u2": "2026-11-27T10:00:00Z"}})";
    auto c = decode_context(text);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->schedule.last_seen, roster::time_point{});
    EXPECT_FALSE(c->held_since);
    ASSERT_TRUE(c->last_pass_end);
    EXPECT_EQ(c->candidates.size(), 1u);
    EXPECT_TRUE(c->candidates.count("u2"));
    const auto once = encode_context(*c);
    auto again = decode_context(once);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(encode_context(*again), once);

    auto row = decode_row(R"({"issuer": "i", "context_id": "c", "user_id": "u", "roles": [],
                              "launch_seen_at": "1969-12-31T23:59:59.999Z"})");
    ASSERT_TRUE(row) << row.error();
    EXPECT_FALSE(row->launch_seen_at);

    auto change = decode_change(
        R"({"type": "member.removed", "issuer": "i", "user_id": "u", "context": {"id": "c"},
                                    "time": "1969-12-31T23:59:59.500Z"})"
    );
    ASSERT_TRUE(change) << change.error();
    EXPECT_FALSE(change->time);
}

// Disabled: a known bug in the pipeline, kept to check a fix (--gtest_also_run_disabled_tests).
// Ingest accepts a CourseSeen of up to 64 KiB and writes it normalised to the sync-requests topic;
// normalising can lengthen a record ("…:00Z" becomes "…:00.000Z", "https://host" gets its "/"),
// so the pass scheduler (pipeline.cpp, handle_request) parses its own records with
// max_sync_request_bytes: a record at the limit that ingest accepted must not be dead-lettered
// there as too_large. Found by fuzz_records (corpus/records/request_at_the_limit).
TEST(SyncRequest, RecordAtTheIngestLimitIsAcceptedAgain)
{
    config::config cfg;
    config::platform p;
    p.name = "canvas-cloud";
    p.issuer = "https://canvas.instructure.com";
    p.client_id = "10000000000001";
    p.allowed_hosts = {"school.instructure.com"};
    cfg.platforms.push_back(p);
    constexpr std::size_t limit = max_course_seen_bytes;
    const std::string head =
        R"({"issuer":"https://canvas.instructure.com","client_id":"10000000000001",)"
        R"("context_memberships_url":"https://school.instructure.com",)"
        R"("seen_at":"2026-11-27T10:00:00Z","context":{"id":"c","title":")";
    const std::string tail = "\"}}";
    const std::string record = head + std::string(limit - head.size() - tail.size(), 't') + tail;
    ASSERT_EQ(record.size(), limit);
    auto ingest = parse_course_seen(record, cfg, limit);
    ASSERT_TRUE(ingest) << ingest.error().message;
    const auto normalised = encode_sync_request(*ingest);
    EXPECT_GT(normalised.size(), limit);  // the case this test exists for
    auto request = parse_course_seen(normalised, cfg, max_sync_request_bytes);
    EXPECT_TRUE(request) << request.error().reason << ": " << request.error().message;
}

}  // namespace
}  // namespace rostersync::sync
