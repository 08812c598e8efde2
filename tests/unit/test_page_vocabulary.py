"""The pages' vocabulary in Chinese and English (adapters/web/i18n.py): no database.

The pages that use it are tested through the HTTP app in tests/e2e/test_desk.py and test_analytics.py.
"""

from __future__ import annotations

from contacthub.adapters.web.i18n import TEXT, Translator
from contacthub.domain.complaint import ACTIONS
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Severity, SlaState, Tier


def test_every_word_of_the_vocabulary_is_translated() -> None:
    kinds = {"channel": Channel, "tier": Tier, "status": ComplaintStatus, "sla": SlaState, "severity": Severity}
    for kind, values in kinds.items():
        for value in values:
            assert f"{kind}.{value.value}" in TEXT, f"{kind}.{value.value}"
    for action in ACTIONS:
        assert f"action.{action}" in TEXT
    assert all(set(entry) == {"zh", "en"} and all(entry.values()) for key, entry in TEXT.items() if key != "unit.join")
    zh = Translator("zh")
    assert [zh.term("status", s) for s in ComplaintStatus] == [
        "已受理", "处理中", "待客户回复", "挂起", "已解决", "已关闭", "已撤销", "已驳回"]
    assert [zh.term("tier", t) for t in Tier] == ["钻石", "金卡", "银卡", "贵宾", "普通"]
    assert zh.term("channel", "app") == "手机营业厅（APP）"
    assert zh.term("category", "网络质量") == "网络质量"  # free text is shown as sent
