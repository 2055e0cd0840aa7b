"""Each row feed kind applied from a small CSV with its shipped standard mapping, read back field by field,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.feeds._feeds import (
    CUSTOMERS_HEADER,
    add_catalog,
    add_customers,
    apply,
    counts,
    csv_file,
    rows,
    scalar,
)

FULL_CUSTOMERS_HEADER = (
    "customer_id,name,msisdns,gender,city,plan_id,plan_name,monthly_fee,tenure_months,contract,value_tier,brand,"
    "service_status,balance,arrears,contract_end,account_manager,handset,star_level,relation_kind,group_id,"
    "group_name\n"
)


def test_customers_with_every_field_of_a_chinese_carrier(migrated_engine, tmp_path):
    path = csv_file(tmp_path, "customers.csv", FULL_CUSTOMERS_HEADER + (
        "K1,张伟,13800138000;+86 139 0013 9000,男,杭州,P-5G-129,5G畅享129元,129,36,两年合约,金卡,全球通,欠费停机,"
        "-12.50,30.00,2027/06/30,李经理,华为 Mate 60,5,副卡,G-88,张家\n"
        "K2,,,female,,P-4G,4G,38,,month_to_month,,动感地带,正常,,,,,,0,,,\n"
    ))

    report = apply(migrated_engine, "customers", path)

    assert counts(report) == (2, 0, 0, 0, 0, 0)
    [k1] = rows(migrated_engine, """
        SELECT name, gender, city, plan_id, plan_name, monthly_fee_fen, tenure_months, contract, value_tier, brand,
               service_status, balance_fen, arrears_fen, contract_end, account_manager, handset, star_level,
               relation_kind, group_id, group_name, retired_at
        FROM customers WHERE customer_id = 'K1'""")
    assert k1[:11] == ("张伟", "male", "杭州", "P-5G-129", "5G畅享129元", 12900, 36, "two_year", "gold", "全球通",
                       "arrears_suspended")
    assert k1[11:13] == (-1250, 3000)
    assert str(k1[13]) == "2027-06-30"
    assert k1[14:] == ("李经理", "华为 Mate 60", 5, "secondary_card", "G-88", "张家", None)
    assert rows(migrated_engine, "SELECT msisdn, is_primary FROM customer_numbers WHERE customer_id = 'K1' "
                                 "ORDER BY msisdn") == [("13800138000", True), ("13900139000", False)]
    [k2] = rows(migrated_engine, "SELECT gender, tenure_months, value_tier, service_status, star_level, balance_fen "
                                 "FROM customers WHERE customer_id = 'K2'")
    assert k2 == ("female", 0, "standard", "normal", 0, None)  # blank counters: the column default


def test_numbers_one_number_for_two_customers(migrated_engine, tmp_path, api):
    add_customers(migrated_engine, tmp_path, "C1", "C2", "C3")
    path = csv_file(tmp_path, "numbers.csv", (
        "msisdn,customer_id,is_primary\n"
        "13800000001,C1,yes\n"
        "13800000002,C1,\n"
        "+86 138 0000 0009,C2,是\n"
        "13800000009,C3,no\n"  # C2's number too: a family line
    ))

    report = apply(migrated_engine, "numbers", path)

    assert counts(report) == (4, 0, 0, 0, 0, 0)
    assert rows(migrated_engine, "SELECT msisdn, customer_id, is_primary FROM customer_numbers ORDER BY 1, 2") == [
        ("13800000001", "C1", True), ("13800000002", "C1", False), ("13800000009", "C2", True),
        ("13800000009", "C3", False)]
    # A pop by the shared number asks which customer is calling, with one entry per customer.
    response = api.get("/v1/pop", ani="13800000009")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "ambiguous_caller"
    assert [candidate["customer_id"] for candidate in error["details"]] == ["C2", "C3"]


def test_usage_months_counters_and_ringback(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    path = csv_file(tmp_path, "usage.csv", (
        "customer_id,month,data_mb,voice_min,sms,mms,ringback_active,ringback_fee,roaming_data_mb,roaming_voice_min,bill\n"
        "C1,2026-10,20480,300,12,1,yes,5,0,0,128.50\n"
        "C1,202611,,,,,no,,512,30,\n"
    ))

    assert counts(apply(migrated_engine, "usage", path)) == (2, 0, 0, 0, 0, 0)
    assert rows(migrated_engine, "SELECT month, data_mb, voice_min, sms, mms, ringback_active, ringback_fee_fen, "
                                 "roaming_data_mb, roaming_voice_min, bill_fen FROM usage_monthly ORDER BY month") == [
        ("2026-10", 20480, 300, 12, 1, True, 500, 0, 0, 12850),
        ("2026-11", 0, 0, 0, 0, False, 0, 512, 30, 0)]


def test_bills_late_is_derived_from_the_dates_when_not_given(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    path = csv_file(tmp_path, "bills.csv", (
        "customer_id,month,amount,paid,due_on,paid_on,late\n"
        "C1,2026-08,128,128,2026-09-15,2026-09-15,\n"  # paid on the due date: on time
        "C1,2026-09,128,128,2026-10-15,2026-10-20,\n"  # paid after the due date: late
        "C1,2026-10,128,128,2026-11-15,2026-11-10,\n"  # on time
        "C1,2026-11,128,0,2026-12-15,,是\n"  # said so
    ))

    assert counts(apply(migrated_engine, "bills", path)) == (4, 0, 0, 0, 0, 0)
    found = rows(migrated_engine, "SELECT month, amount_fen, paid_fen, late FROM bills ORDER BY month")
    assert found == [("2026-08", 12800, 12800, False), ("2026-09", 12800, 12800, True), ("2026-10", 12800, 12800, False), ("2026-11", 12800, 0, True)]


def test_complaints_by_external_id_with_chinese_codes_and_china_time(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    path = csv_file(tmp_path, "complaints.csv", (
        "external_id,customer_id,opened_at,category,status,severity,summary_zh,summary_en\n"
        "TS-1,C1,2026-11-30 08:15,账单,处理中,严重,话费异常,Bill shock\n"
        "TS-2,C1,2026-11-29T10:00:00+00:00,network,resolved,,信号差,\n"
    ))

    assert counts(apply(migrated_engine, "complaints", path)) == (2, 0, 0, 0, 0, 0)
    found = rows(migrated_engine, "SELECT external_id, opened_at, category, status, severity, summary_zh "
                                  "FROM complaints ORDER BY external_id")
    opened = [value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value) for _, value, *_ in found]
    # 08:15 in China is 00:15 UTC; the second one said its zone.
    assert [moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(dt.UTC).replace(tzinfo=None)
            for moment in opened] == [dt.datetime(2026, 11, 30, 0, 15), dt.datetime(2026, 11, 29, 10, 0)]
    assert [row[2:] for row in found] == [("billing", "open", "serious", "话费异常"),
                                          ("network", "resolved", "normal", "信号差")]


def test_contacts_from_every_channel_and_their_purpose(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    add_catalog(migrated_engine)
    path = csv_file(tmp_path, "contacts.csv", (
        "external_id,customer_id,contacted_at,channel,purpose,topic,result,campaign_id,wave,offer_id,agent_id,call_id\n"
        "IVR-1,C1,2026-11-30 09:00,IVR,,账单查询,,,,,,\n"  # no campaign, no offer: service
        "SMS-1,C1,2026-11-29 09:00,短信,,,,CMP-FAMILY,1,,,\n"  # a campaign: marketing
        "OB-1,C1,2026-11-28 09:00,outbound_call,服务,回访,connected,,,CARE-CHECKUP,a-7,call-9\n"  # said so
    ))

    assert counts(apply(migrated_engine, "contacts", path)) == (3, 0, 0, 0, 0, 0)
    assert rows(migrated_engine, "SELECT external_id, channel, purpose, topic, result, campaign_id, wave, offer_id, "
                                 "agent_id, call_id FROM contact_history ORDER BY external_id") == [
        ("IVR-1", "ivr", "service", "账单查询", None, None, None, None, None, None),
        ("OB-1", "outbound_call", "service", "回访", "connected", None, None, "CARE-CHECKUP", "a-7", "call-9"),
        ("SMS-1", "sms", "marketing", None, None, "CMP-FAMILY", 1, None, None, None)]


def test_subscriptions_held(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    path = csv_file(tmp_path, "subscriptions.csv", (
        "customer_id,product_id,name,category,since,until\n"
        "C1,RBT-CLASSIC,经典彩铃,ringback,2025-01-01,\n"
        "C1,ADDON-DATA-20G,20G 流量包,add-on,20260301,2026-12-31\n"
    ))

    assert counts(apply(migrated_engine, "subscriptions", path)) == (2, 0, 0, 0, 0, 0)
    found = rows(migrated_engine, "SELECT product_id, name, category, since, until FROM subscriptions ORDER BY 1")
    assert [(p, n, c, str(s), u if u is None else str(u)) for p, n, c, s, u in found] == [
        ("ADDON-DATA-20G", "20G 流量包", "add-on", "2026-03-01", "2026-12-31"),
        ("RBT-CLASSIC", "经典彩铃", "ringback", "2025-01-01", None)]


def test_scores_of_the_operators_model(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1")
    path = csv_file(tmp_path, "scores.csv", (
        "customer_id,churn_risk,price_level,complaint_level,churn_reason,price_reason,complaint_reason,model,scored_at\n"
        "C1,85%,高,low,合约将到期,近3月多次查询账单,,churn-xgb-v7,2026-12-01 02:00\n"
    ))

    assert counts(apply(migrated_engine, "scores", path)) == (1, 0, 0, 0, 0, 0)
    [score] = rows(migrated_engine, "SELECT churn_risk, price_level, complaint_level, churn_reason, model "
                                    "FROM customer_scores")
    assert score == (pytest.approx(0.85), "high", "low", "合约将到期", "churn-xgb-v7")


def test_members_with_wave_priority_and_reason(migrated_engine, tmp_path):
    add_customers(migrated_engine, tmp_path, "C1", "C2")
    add_catalog(migrated_engine)
    path = csv_file(tmp_path, "members.csv", (
        "customer_id,campaign_id,wave,priority,reason\n"
        "C1,CMP-FAMILY,2,10,家庭副卡未开通\n"
        "C2,CMP-FAMILY,,,\n"
    ))

    assert counts(apply(migrated_engine, "members", path)) == (2, 0, 0, 0, 0, 0)
    assert rows(migrated_engine, "SELECT customer_id, wave, priority, reason, source FROM campaign_members "
                                 "ORDER BY customer_id") == [
        ("C1", 2, 10, "家庭副卡未开通", "members"), ("C2", None, 0, None, "members")]
    first_added = scalar(migrated_engine, "SELECT added_at FROM campaign_members WHERE customer_id = 'C1'")
    assert first_added is not None

    changed = csv_file(tmp_path, "members2.csv", "customer_id,campaign_id,wave,priority,reason\nC1,CMP-FAMILY,3,10,x\n")
    assert counts(apply(migrated_engine, "members", changed)) == (0, 1, 0, 0, 0, 0)
    # The wave moved; when the customer joined did not.
    assert rows(migrated_engine, "SELECT wave, reason, added_at FROM campaign_members WHERE customer_id = 'C1'") == [
        (3, "x", first_added)]


def test_a_delta_customers_feed_changes_a_plan_the_next_pop_shows(migrated_engine, tmp_path, api):
    first = csv_file(tmp_path, "day1.csv", CUSTOMERS_HEADER + "P1,王芳,13700001111,P-4G-58,4G畅享58元,58,20\n")
    apply(migrated_engine, "customers", first)
    assert api.pop(customer_id="P1")["customer"]["plan"]["name"] == "4G畅享58元"

    delta = csv_file(tmp_path, "day2.csv", "customer_id,plan_id,plan_name,monthly_fee\nP1,P-5G-129,5G畅享129元,129\n")
    report = apply(migrated_engine, "customers", delta)

    assert counts(report) == (0, 1, 0, 0, 0, 0)
    shown = api.pop(ani="13700001111")["customer"]
    assert shown["plan"] == {"plan_id": "P-5G-129", "name": "5G畅享129元", "monthly_fee": 129.0}
    assert shown["name"] == "王芳"  # not in the delta file: kept
