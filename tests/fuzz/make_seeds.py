#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/{course_seen,records}/ (realistic records and
edge cases). Inputs libFuzzer found that crashed are kept there too, as crash-<what>; this script
never deletes files. Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
CANVAS = {"issuer": "https://canvas.instructure.com", "client_id": "10000000000001"}
URL = "https://school.instructure.com/api/lti/courses/42/names_and_roles"


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, "corpus", folder), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(HERE, "corpus", folder, name), "wb") as f:
        f.write(data)


def canvas(**extra):
    o = dict(CANVAS, context={"id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3"}, context_memberships_url=URL)
    o.update(extra)
    return json.dumps(o)


# ---- CourseSeen (platforms of the fuzzer: canvas-cloud, local-sim, launch-only) ----
cs = {
    "design_example": json.dumps(dict(CANVAS, deployment_id="1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
        context={"id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3", "label": "BIO101", "title": "Biology"},
        context_memberships_url=URL, resource_link_id="rl-1", seen_at="2026-11-27T10:00:00Z", force=False,
        launch_user={"user_id": "535fa085-f0f0-4d1c-a0d4-1e5a5a5a5a5a", "roles": [LEARNER, ADMIN],
                     "name": "Ada Lovelace", "email": "ada@school.test"}), indent=1),
    "minimal": canvas(),
    "force_fraction_offset": canvas(force=True, seen_at="2026-11-27T10:00:00.123456789+05:30"),
    "ta_subrole": canvas(launch_user={"user_id": "u1", "roles": [TA]}),
    "sim_http": json.dumps({"issuer": "http://127.0.0.1:8080", "client_id": "sim", "context": {"id": "c1"},
                            "context_memberships_url": "http://127.0.0.1:8080/api/lti/courses/1/names_and_roles?rlid=x#frag"}),
    "sim_ipv6": json.dumps({"issuer": "http://127.0.0.1:8080", "client_id": "sim", "context": {"id": "c1"},
                            "context_memberships_url": "http://[::1]:8080/x"}),
    "launch_only": json.dumps({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
                               "context": {"id": "m1"}, "launch_user": {"user_id": "u", "roles": [INSTRUCTOR]}}),
    "launch_only_foreign_url": json.dumps({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
                                           "context": {"id": "m1"}, "context_memberships_url": "https://evil.test/"}),
    # SSRF and URL tricks
    "url_userinfo": canvas(context_memberships_url="https://school.instructure.com@evil.test/x"),
    "url_userinfo2": canvas(context_memberships_url="https://a:b@school.instructure.com/x"),
    "url_percent_host": canvas(context_memberships_url="https://school%2einstructure.com/x"),
    "url_percent_dot": canvas(context_memberships_url="https://evil.test%2f.instructure.com/x"),
    "url_ip": canvas(context_memberships_url="https://10.1.2.3/x"),
    "url_ip_octal": canvas(context_memberships_url="https://012.1.2.3/x"),
    "url_ip_decimal": canvas(context_memberships_url="https://167838211/x"),
    "url_ip_hex": canvas(context_memberships_url="https://0xa.1.2.3/x"),
    "url_localhost": canvas(context_memberships_url="https://localhost/x"),
    "url_linklocal": canvas(context_memberships_url="https://169.254.169.254/latest/meta-data"),
    "url_v6_mapped": canvas(context_memberships_url="https://[::ffff:10.1.2.3]/x"),
    "url_trailing_dot": canvas(context_memberships_url="https://school.instructure.com./x"),
    "url_suffix_trick": canvas(context_memberships_url="https://evilinstructure.com/x"),
    "url_bare_wildcard": canvas(context_memberships_url="https://instructure.com/x"),
    "url_http": canvas(context_memberships_url="http://school.instructure.com/x"),
    "url_port": canvas(context_memberships_url="https://school.instructure.com:65536/x"),
    "url_backslash": canvas(context_memberships_url="https://school.instructure.com\\@evil.test/x"),
    "url_unicode_host": canvas(context_memberships_url="https://sch\u00f6ol.instructure.com/x"),
    "url_no_authority": canvas(context_memberships_url="https:school.instructure.com/x"),
    "url_javascript": canvas(context_memberships_url="javascript:alert(1)"),
    # field edge cases
    "not_object": "[1,2,3]",
    "not_json": "{\"issuer\": ",
    "empty": "",
    "nulls": canvas(deployment_id=None, seen_at=None, launch_user=None, force=None),
    "wrong_types": canvas(force="yes", launch_user={"user_id": 7, "roles": "Learner"}),
    "roles_not_strings": canvas(launch_user={"user_id": "u", "roles": [1, None, LEARNER]}),
    "unknown_platform": json.dumps({"issuer": "https://evil.test", "client_id": "x\u0000\"\\\u00e9",
                                    "context": {"id": "c"}}),
    "long_identifier": canvas(context={"id": "c" * 1025}),
    "deep": "{\"a\":" * 40 + "1" + "}" * 40,
    "duplicate_keys": '{"issuer":"x","issuer":"https://canvas.instructure.com","client_id":"10000000000001",'
                      '"context":{"id":"c"},"context":{"id":"d"},"context_memberships_url":"' + URL + '"}',
    "seen_at_leap": canvas(seen_at="2024-02-29T23:59:60Z"),
    "seen_at_bad_day": canvas(seen_at="2023-02-29T00:00:00Z"),
    "seen_at_far_future": canvas(seen_at="9999-12-31T23:59:59.999999999-23:59"),
    "seen_at_before_epoch": canvas(seen_at="1969-12-31T23:59:59.500Z"),
    "seen_at_year0": canvas(seen_at="0000-01-01T00:00:00Z"),
    "seen_at_short_offset": canvas(seen_at="2026-11-27T10:00:00+05"),
    "escapes": canvas(context={"id": "\ud83d\ude00\u2028", "label": "\t\n", "title": "\u0000"}),
}
for name, text in cs.items():
    write("course_seen", name + ".json", text)

# ---- records: first byte 0 context, 1 row, 2 checkpoint, 3 change, 4 sync request (a CourseSeen) ----
context = {"context_key": "https://canvas.instructure.com|c1", "platform": "canvas-cloud",
           "issuer": "https://canvas.instructure.com", "client_id": "10000000000001", "deployment_id": "1:abc",
           "context": {"id": "c1", "label": "BIO101", "title": "Biology"}, "context_memberships_url": URL,
           "last_pass_start": "2026-11-27T10:00:00.000Z", "last_pass_end": "2026-11-27T10:00:03.123Z",
           "last_seen": "2026-11-27T09:59:59.000Z", "next_due": "2026-11-27T16:00:00.000Z", "dirty": True,
           "unchanged_passes": 3, "parked": True, "parked_reason": "not_found", "last_outcome": "changed",
           "roster_version": 7, "members": 31, "candidates": {"u9": "2026-11-27T10:00:03.123Z", "u8": "junk"},
           "held": 12, "held_since": "2026-11-27T10:00:03.123Z", "release_until": "2026-11-28T10:00:03.123Z"}
member = {"status": "Active", "roles": [LEARNER], "name": "Ada Lovelace", "given_name": "Ada",
          "family_name": "Lovelace", "email": "ada@school.test", "picture": "https://pics.test/a.png",
          "lis_person_sourcedid": "sis-1", "lti11_legacy_user_id": "legacy"}
row = dict(member, issuer="https://canvas.instructure.com", context_id="c1", user_id="u1", provisional=True,
           launch_seen_at="2026-11-27T10:00:00.000Z", roster_version=7)
change = {"id": "0123456789abcdef0123456789abcdef", "type": "member.added", "time": "2026-11-27T10:00:03.123Z",
          "source": "nrps", "issuer": "https://canvas.instructure.com", "client_id": "10000000000001",
          "context": {"id": "c1", "label": "BIO101"}, "user_id": "u1", "roster_version": 7, "before": None,
          "after": member}
recs = {
    "context": (0, json.dumps(context)),
    "context_minimal": (0, json.dumps({"context_key": "k", "context": {"id": "c"}})),
    "context_versions": (0, json.dumps({"context_key": "k", "context": {"id": "c"}, "roster_version": "4294967296",
                                        "members": -5, "held": "18446744073709551615",
                                        "unchanged_passes": 9223372036854775807})),
    "context_string_ints": (0, json.dumps({"context_key": "k", "context": {"id": "c"}, "roster_version": " 12abc",
                                           "members": 1e300})),
    "context_old_time": (0, json.dumps({"context_key": "k", "context": {"id": "c"},
                                        "last_seen": "1969-12-31T23:59:59.500Z", "next_due": "2262-04-11T23:47:16Z"})),
    "row": (1, json.dumps(row)),
    "row_missing": (1, json.dumps({"issuer": "i", "context_id": "c"})),
    "row_bad_roles": (1, json.dumps(dict(row, roles="x"))),
    "row_version_huge": (1, json.dumps(dict(row, roster_version=18446744073709551615))),
    "checkpoint": (2, json.dumps({"partition": 3, "changes_offset": "1234", "written_at": "2026-11-27T10:00:03.123Z"})),
    "checkpoint_negative": (2, json.dumps({"partition": -1, "changes_offset": "-5"})),
    "checkpoint_huge": (2, json.dumps({"partition": 4294967297, "changes_offset": "99999999999999999999"})),
    "change_added": (3, json.dumps(change)),
    "change_removed": (3, json.dumps(dict(change, type="member.removed", before=member, after=None))),
    "change_launch": (3, json.dumps(dict(change, source="launch", type="member.roles_changed"))),
    "change_unknown_type": (3, json.dumps(dict(change, type="member.exploded"))),
    "change_bad_version": (3, json.dumps(dict(change, roster_version=-1))),
    "change_big_version": (3, json.dumps(dict(change, roster_version=4294967296))),
    "change_no_after": (3, json.dumps(dict(change, after=None))),
    "change_old_time": (3, json.dumps(dict(change, time="1969-12-31T23:59:59.500Z"))),
    "not_object": (3, "\"member.added\""),
    "request_design_example": (4, cs["design_example"]),
    "request_sim": (4, cs["sim_http"]),
    "request_launch_only": (4, cs["launch_only"]),
    "request_launch_only_url": (4, json.dumps({"issuer": "https://moodle.example.edu", "client_id": "moodle-tool",
        "context": {"id": "m1"}, "context_memberships_url": "https://MOODLE.example.edu:443/nrps?x=1#f"})),
    "request_before_epoch": (4, cs["seen_at_before_epoch"]),
    "request_offset": (4, cs["force_fraction_offset"]),
    "request_escapes": (4, cs["escapes"]),
}
# A CourseSeen of exactly the fuzzer's 2048-byte limit whose normalised form is longer.
at_limit = dict(CANVAS, context={"id": "c", "title": ""}, context_memberships_url="https://school.instructure.com/x",
                seen_at="2026-11-27T10:00:00Z")
at_limit["context"]["title"] = "t" * (2048 - len(json.dumps(at_limit, separators=(",", ":"))))
recs["request_at_the_limit"] = (4, json.dumps(at_limit, separators=(",", ":")))
for name, (selector, text) in recs.items():
    write("records", name, bytes([selector]) + text.encode())
