"""Every word the clerk's desk and the analytics page show, in Simplified Chinese (the default) and English.

One dictionary, `TEXT`: page labels, and the operator's closed vocabularies (statuses,
tiers, channels, SLA states, actions, ...) under `<kind>.<value>` keys. Free text that
channels send (complaint category, contact reason, service names) is shown as sent, except
the codes the demo operator's systems use (`reason.plan_change`, `category.billing`,
`service.iptv`), which read as words in either language.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

TEXT: dict[str, dict[str, str]] = {
    # --- frame -------------------------------------------------------------------------
    "app.title": {"zh": "营业厅客户服务台", "en": "Store service desk"},
    "app.brand": {"zh": "ContactHub 服务台", "en": "ContactHub desk"},
    "lang.switch": {"zh": "English", "en": "中文"},
    "search.label": {"zh": "手机号码 / 客户编号 / 投诉单号", "en": "Phone number / customer id / complaint id"},
    "search.placeholder": {"zh": "例如 13800138000", "en": "e.g. 13800138000"},
    "search.button": {"zh": "查询", "en": "Search"},
    "search.intro": {
        "zh": "输入客户的手机号码（可带 +86）、客户编号或投诉单号，查看客户在各渠道的投诉与接触记录，并当场办理。",
        "en": "Enter the customer's phone number (+86 allowed), customer id or complaint id to see their "
              "complaints and contacts in every channel, and act on them here.",
    },
    "search.not_found": {"zh": "未找到与「{q}」匹配的客户或投诉。", "en": 'No customer or complaint matches "{q}".'},
    "search.unidentified": {
        "zh": "号码「{q}」目前没有登记客户；有 {n} 条来自该号码的接触记录尚未归属任何客户。",
        "en": 'Nobody holds "{q}" now; {n} touchpoint(s) from it belong to no customer yet.',
    },
    "search.unidentified_hint": {
        "zh": "号码登记给客户后，登记前 {days} 天内的记录将自动归入该客户，更早的记录仍为未识别。",
        "en": "When the number is registered to a customer, those from the {days} days before join that customer; "
              "older ones stay unidentified.",
    },
    "search.unidentified_title": {"zh": "未识别来电方的接触记录", "en": "Unidentified caller's touchpoints"},
    "search.not_found_hint": {
        "zh": "请核对号码或单号；刚在其他渠道登记的记录可能需要几秒钟才能查到。",
        "en": "Check the number or id; something just logged in another channel may take a few seconds to appear.",
    },
    "search.bad_input": {
        "zh": "「{q}」不是手机号码、客户编号或投诉单号。",
        "en": '"{q}" is not a phone number, customer id or complaint id.',
    },
    "search.bad_input_hint": {
        "zh": "手机号码为 5 到 15 位数字，可带 +86；编号由字母、数字和 . _ : - 组成。",
        "en": "A phone number is 5 to 15 digits, +86 allowed; ids are letters, digits and . _ : -",
    },
    "error.title": {"zh": "出错了", "en": "Something went wrong"},
    "error.no_customer": {"zh": "没有编号为「{id}」的客户。", "en": 'There is no customer with id "{id}".'},
    "error.no_complaint": {"zh": "没有单号为「{id}」的投诉。", "en": 'There is no complaint with id "{id}".'},
    "error.bad_form": {"zh": "无法读取提交的表单。", "en": "The submitted form could not be read."},
    "error.cross_site": {
        "zh": "此操作只能从服务台页面提交。",
        "en": "This action can only be submitted from the desk's own pages.",
    },
    "error.back": {"zh": "返回查询", "en": "Back to search"},
    "error.forbidden": {
        "zh": "当前登录的密钥「{name}」（{role}）无权执行此操作；需要{roles}密钥。",
        "en": 'The key you are logged in with ("{name}", {role}) may not do this; it needs a {roles} key.',
    },
    # --- login -------------------------------------------------------------------------
    "login.title": {"zh": "登录", "en": "Log in"},
    "login.intro": {
        "zh": "请输入您的 API 密钥（{roles}）登录服务台和分析页面。",
        "en": "Enter your API key ({roles}) to use the desk and the analytics page.",
    },
    "login.key": {"zh": "API 密钥", "en": "API key"},
    "login.submit": {"zh": "登录", "en": "Log in"},
    "login.hint": {
        "zh": "密钥由管理员用 contacthub keys create 生成，形如 ch_…；仅显示一次，请妥善保管。",
        "en": "Your administrator creates keys with contacthub keys create; they look like ch_… and are shown "
              "only once, so keep yours safe.",
    },
    "login.no_key": {"zh": "请输入 API 密钥。", "en": "Enter an API key."},
    "login.bad_key": {
        "zh": "密钥无效：格式不对、不存在或已被吊销。",
        "en": "That key is not valid: malformed, unknown or revoked.",
    },
    "login.wrong_role": {
        "zh": "密钥「{name}」是{role}密钥，不能登录服务台；需要{roles}密钥。",
        "en": 'The key "{name}" is a {role} key and cannot log in here; it needs a {roles} key.',
    },
    "login.who": {"zh": "{name}（{role}）", "en": "{name} ({role})"},
    "login.logout": {"zh": "退出", "en": "Log out"},
    "role.channel": {"zh": "渠道系统", "en": "channel"},
    "role.clerk": {"zh": "营业员", "en": "clerk"},
    "role.auditor": {"zh": "审计员", "en": "auditor"},
    "role.admin": {"zh": "管理员", "en": "admin"},
    "role.integration": {"zh": "集成系统", "en": "integration"},
    "forms.read_only": {
        "zh": "只读：审计员密钥可以查看，不能办理。",
        "en": "Read only: an auditor key can see this, not act on it.",
    },
    "footer.note": {
        "zh": "时间均为 {zone} 时间。",
        "en": "Times are in {zone}.",
    },
    # --- customer ----------------------------------------------------------------------
    "customer.heading": {"zh": "客户", "en": "Customer"},
    "customer.id": {"zh": "客户编号", "en": "Customer id"},
    "customer.tier": {"zh": "客户等级", "en": "Tier"},
    "customer.segment": {"zh": "客户类型", "en": "Segment"},
    "customer.msisdns": {"zh": "手机号码", "en": "Phone numbers"},
    "customer.former_msisdns": {"zh": "曾用号码", "en": "Former numbers"},
    "customer.former_msisdn": {"zh": "{msisdn}（释放于 {until}）", "en": "{msisdn} (released {until})"},
    "customer.merged_records": {"zh": "已合并档案", "en": "Merged records"},
    "customer.merged_record": {"zh": "{id}（合并于 {at}）", "en": "{id} (merged {at})"},
    "customer.redirected": {"zh": "档案 {asked} 已合并至 {survivor}，以下为合并后的完整视图。",
                            "en": "Record {asked} is merged into {survivor}: this is the person's unified view."},
    "customer.arpu": {"zh": "月均消费", "en": "ARPU"},
    "customer.arpu_value": {"zh": "{value} 元", "en": "¥{value}"},
    "customer.registered_at": {"zh": "入网时间", "en": "Customer since"},
    "customer.erased_at": {"zh": "个人信息已删除", "en": "Personal data erased"},
    "customer.contacts": {"zh": "接触次数", "en": "Contacts"},
    "customer.services": {"zh": "业务", "en": "Services"},
    "customer.no_services": {"zh": "暂无业务", "en": "No services"},
    "customer.open_orders": {"zh": "在途订单", "en": "Open orders"},
    "customer.no_open_orders": {"zh": "没有在途订单", "en": "No open orders"},
    "order.id": {"zh": "订单号", "en": "Order"},
    "order.placed_at": {"zh": "下单时间", "en": "Placed"},
    "order.age": {"zh": "已等待", "en": "Waiting"},
    "order.activated": {"zh": "已开通", "en": "Activated"},
    "order.pending": {"zh": "待开通", "en": "Pending"},
    "complaints.heading": {"zh": "投诉", "en": "Complaints"},
    "complaints.none": {"zh": "没有未办结的投诉。", "en": "No complaints to work on."},
    "complaints.past": {"zh": "已结束的投诉", "en": "Finished complaints"},
    "timeline.heading": {"zh": "全渠道接触记录", "en": "Contacts in every channel"},
    "timeline.none": {"zh": "暂无接触记录。", "en": "No contacts yet."},
    "timeline.showing": {
        "zh": "显示最近 {shown} 条，共 {total} 条。",
        "en": "Showing the latest {shown} of {total}.",
    },
    "timeline.show_all": {"zh": "显示全部", "en": "Show all"},
    # --- complaint ---------------------------------------------------------------------
    "complaint.heading": {"zh": "投诉单", "en": "Complaint"},
    "complaint.id": {"zh": "投诉单号", "en": "Complaint id"},
    "complaint.customer": {"zh": "客户", "en": "Customer"},
    "complaint.status": {"zh": "状态", "en": "Status"},
    "complaint.category": {"zh": "类别", "en": "Category"},
    "complaint.severity": {"zh": "严重程度", "en": "Severity"},
    "complaint.summary": {"zh": "投诉内容", "en": "Summary"},
    "complaint.opened": {"zh": "受理", "en": "Opened"},
    "complaint.opened_via": {"zh": "{time} · {channel}", "en": "{time} via {channel}"},
    "complaint.owner": {"zh": "当前处理人", "en": "Owner"},
    "complaint.owner_changes": {"zh": "处理人变更", "en": "Ownership changes"},
    "complaint.owner_change": {"zh": "{time} 由 {from_owner} 移交", "en": "{time} from {from_owner}"},
    "complaint.escalation_level": {"zh": "升级级别", "en": "Escalation level"},
    "complaint.resolution": {"zh": "处理结果", "en": "Resolution"},
    "complaint.satisfaction": {"zh": "满意度", "en": "Satisfaction"},
    "complaint.details": {"zh": "完整投诉单 →", "en": "Full complaint →"},
    "complaint.back_to_customer": {"zh": "返回客户页", "en": "Back to the customer"},
    "complaint.deadline": {"zh": "时限", "en": "Deadline"},
    "sla.heading": {"zh": "处理时限", "en": "Time limit (SLA)"},
    "sla.left": {"zh": "剩余 {d}", "en": "{d} left"},
    "sla.overdue": {"zh": "已超时 {d}", "en": "Overdue by {d}"},
    "sla.paused_left": {"zh": "已暂停 · 剩余 {d}", "en": "Paused · {d} left"},
    "sla.met_text": {"zh": "按时办结", "en": "Met the deadline"},
    "sla.missed_text": {"zh": "超时办结（超时 {d}）", "en": "Missed the deadline by {d}"},
    "sla.policy": {"zh": "时限标准", "en": "Policy"},
    "sla.allowance": {"zh": "处理时限", "en": "Allowance"},
    "sla.clock": {"zh": "计时轮次", "en": "Clock"},
    "sla.clock_started_at": {"zh": "开始计时", "en": "Clock started"},
    "sla.warning_at": {"zh": "预警时间", "en": "Warning at"},
    "sla.deadline": {"zh": "截止时间", "en": "Deadline"},
    "sla.elapsed": {"zh": "已用时", "en": "Elapsed"},
    "sla.paused_s": {"zh": "暂停时长", "en": "Time paused"},
    "sla.stopped_at": {"zh": "停止计时", "en": "Clock stopped"},
    "sla.none": {"zh": "—", "en": "—"},
    "history.status": {"zh": "状态变更记录", "en": "Status history"},
    "history.ownership": {"zh": "处理人变更记录", "en": "Ownership history"},
    "history.all": {"zh": "全部处理记录", "en": "Every step"},
    "history.related": {"zh": "相关接触（全渠道）", "en": "Related contacts (every channel)"},
    "history.none": {"zh": "暂无记录。", "en": "Nothing yet."},
    "col.time": {"zh": "时间", "en": "Time"},
    "col.step": {"zh": "事项", "en": "Step"},
    "col.from": {"zh": "原", "en": "From"},
    "col.to": {"zh": "变更为", "en": "To"},
    "col.by": {"zh": "经办人", "en": "By"},
    "col.channel": {"zh": "渠道", "en": "Channel"},
    "col.reason": {"zh": "原因", "en": "Reason"},
    "col.owner": {"zh": "处理人", "en": "Owner"},
    "col.details": {"zh": "说明", "en": "Details"},
    "col.direction": {"zh": "方向", "en": "Direction"},
    "col.handler": {"zh": "接待人", "en": "Handled by"},
    "col.site": {"zh": "地点", "en": "Site"},
    "col.contact_reason": {"zh": "事由", "en": "Reason"},
    "col.outcome": {"zh": "结果", "en": "Outcome"},
    "col.links": {"zh": "关联单号", "en": "Linked"},
    "col.status": {"zh": "状态", "en": "Status"},
    # --- forms -------------------------------------------------------------------------
    "forms.heading": {"zh": "办理", "en": "Act"},
    "forms.none": {"zh": "当前状态下无可办理事项。", "en": "Nothing can be done in this status."},
    "form.by": {"zh": "工号", "en": "Staff id"},
    "form.channel": {"zh": "渠道", "en": "Channel"},
    "form.to": {"zh": "移交给", "en": "Hand over to"},
    "form.reason": {"zh": "原因", "en": "Reason"},
    "form.resolution": {"zh": "处理结果", "en": "Resolution"},
    "form.satisfaction": {"zh": "满意度（1-5）", "en": "Satisfaction (1-5)"},
    "form.text": {"zh": "备注内容", "en": "Note"},
    "form.submit.note": {"zh": "添加备注", "en": "Add note"},
    "form.submit.handover": {"zh": "确认移交", "en": "Hand over"},
    "form.submit.resolve": {"zh": "确认解决", "en": "Resolve"},
    "form.submit.follow_up": {"zh": "记录回访", "en": "Record follow-up"},
    "flash.done": {"zh": "已办理：{action}（{id}）", "en": "Done: {action} ({id})"},
    "flash.duplicate": {"zh": "此前已记录：{action}（{id}）", "en": "Already recorded: {action} ({id})"},
    "flash.catching_up": {
        "zh": "已记录：{action}（{id}），页面稍后更新。",
        "en": "Recorded: {action} ({id}); the page will catch up in a moment.",
    },
    "error.action_failed": {"zh": "未能办理「{action}」（{id}），未作任何记录：", "en": "Could not {action} {id}; nothing was recorded:"},
    "error.not_allowed": {
        "zh": "投诉当前状态为「{status}」，不能办理「{action}」。可办理：{allowed}",
        "en": 'The complaint is {status}; "{action}" is not allowed. Allowed: {allowed}',
    },
    "field.action": {"zh": "操作", "en": "Action"},
    "field.by": {"zh": "工号", "en": "Staff id"},
    "field.channel": {"zh": "渠道", "en": "Channel"},
    "field.to": {"zh": "移交给", "en": "Hand over to"},
    "field.reason": {"zh": "原因", "en": "Reason"},
    "field.resolution": {"zh": "处理结果", "en": "Resolution"},
    "field.satisfaction": {"zh": "满意度", "en": "Satisfaction"},
    "field.text": {"zh": "备注内容", "en": "Note"},
    "field.event_id": {"zh": "事件编号", "en": "Event id"},
    "field.occurred_at": {"zh": "发生时间", "en": "Time"},
    "field.request": {"zh": "请求", "en": "Request"},
    "message.Field required": {"zh": "必填", "en": "Required"},
    "message.Input should be a valid integer": {"zh": "须为整数", "en": "Must be a whole number"},
    "message.Input should be greater than or equal to 1": {"zh": "不能小于 1", "en": "Must be at least 1"},
    "message.Input should be less than or equal to 5": {"zh": "不能大于 5", "en": "Must be at most 5"},
    "message.must not be blank": {"zh": "不能为空", "en": "Must not be blank"},
    # --- durations ---------------------------------------------------------------------
    "unit.d": {"zh": "{n}天", "en": "{n} d"},
    "unit.h": {"zh": "{n}小时", "en": "{n} h"},
    "unit.m": {"zh": "{n}分", "en": "{n} min"},
    "unit.join": {"zh": "", "en": " "},
    # --- vocabularies ------------------------------------------------------------------
    "status.acknowledged": {"zh": "已受理", "en": "Acknowledged"},
    "status.inProgress": {"zh": "处理中", "en": "In progress"},
    "status.pending": {"zh": "待客户回复", "en": "Pending on customer"},
    "status.held": {"zh": "挂起", "en": "Held"},
    "status.resolved": {"zh": "已解决", "en": "Resolved"},
    "status.closed": {"zh": "已关闭", "en": "Closed"},
    "status.cancelled": {"zh": "已撤销", "en": "Cancelled"},
    "status.rejected": {"zh": "已驳回", "en": "Rejected"},
    "tier.diamond": {"zh": "钻石", "en": "Diamond"},
    "tier.gold": {"zh": "金卡", "en": "Gold"},
    "tier.silver": {"zh": "银卡", "en": "Silver"},
    "tier.vip": {"zh": "贵宾", "en": "VIP"},
    "tier.ordinary": {"zh": "普通", "en": "Ordinary"},
    "tier.unknown": {"zh": "未记录", "en": "Not recorded"},
    "segment.individual": {"zh": "个人客户", "en": "Individual"},
    "segment.corporate": {"zh": "政企客户", "en": "Corporate"},
    "channel.hotline": {"zh": "热线", "en": "Hotline"},
    "channel.store": {"zh": "营业厅", "en": "Store"},
    "channel.web": {"zh": "网厅", "en": "Web"},
    "channel.app": {"zh": "手机营业厅（APP）", "en": "App"},
    "channel.sms": {"zh": "短信", "en": "SMS"},
    "channel.email": {"zh": "邮件", "en": "Email"},
    "channel.technician": {"zh": "装维", "en": "Technician"},
    "channel.kiosk": {"zh": "自助终端", "en": "Kiosk"},
    "channel.account_manager": {"zh": "客户经理", "en": "Account manager"},
    "severity.low": {"zh": "低", "en": "Low"},
    "severity.medium": {"zh": "中", "en": "Medium"},
    "severity.high": {"zh": "高", "en": "High"},
    "severity.critical": {"zh": "紧急", "en": "Critical"},
    "sla.on_track": {"zh": "正常", "en": "On track"},
    "sla.due_soon": {"zh": "即将超时", "en": "Due soon"},
    "sla.breached": {"zh": "已超时", "en": "Breached"},
    "sla.paused": {"zh": "已暂停", "en": "Paused"},
    "sla.met": {"zh": "按时办结", "en": "Met"},
    "sla.missed": {"zh": "超时办结", "en": "Missed"},
    "direction.inbound": {"zh": "客户发起", "en": "Inbound"},
    "direction.outbound": {"zh": "我方发起", "en": "Outbound"},
    "outcome.resolved": {"zh": "已解决", "en": "Resolved"},
    "outcome.unresolved": {"zh": "未解决", "en": "Unresolved"},
    "outcome.transferred": {"zh": "已转办", "en": "Transferred"},
    "outcome.abandoned": {"zh": "客户放弃", "en": "Abandoned"},
    "outcome.no_answer": {"zh": "未接通", "en": "No answer"},
    "order_status.inProgress": {"zh": "处理中", "en": "In progress"},
    "order_status.activated": {"zh": "已开通", "en": "Activated"},
    "order_status.partiallyActivated": {"zh": "部分开通", "en": "Partly activated"},
    "order_status.cancelled": {"zh": "已撤单", "en": "Cancelled"},
    "service_status.active": {"zh": "已开通", "en": "Active"},
    "service_status.pending": {"zh": "待开通", "en": "Pending"},
    "action.acknowledge": {"zh": "确认受理", "en": "acknowledge"},
    "action.start": {"zh": "开始处理", "en": "start"},
    "action.pend": {"zh": "待客户回复", "en": "pend"},
    "action.hold": {"zh": "挂起", "en": "hold"},
    "action.resume": {"zh": "恢复处理", "en": "resume"},
    "action.handover": {"zh": "移交", "en": "hand over"},
    "action.escalate": {"zh": "升级", "en": "escalate"},
    "action.resolve": {"zh": "解决", "en": "resolve"},
    "action.follow_up": {"zh": "回访", "en": "follow up"},
    "action.close": {"zh": "关闭", "en": "close"},
    "action.reopen": {"zh": "重新处理", "en": "reopen"},
    "action.cancel": {"zh": "撤销", "en": "cancel"},
    "action.reject": {"zh": "驳回", "en": "reject"},
    "action.note": {"zh": "备注", "en": "add a note"},
    "action.link": {"zh": "关联重复投诉", "en": "link as a duplicate"},
    "event.customer.registered": {"zh": "客户入网登记", "en": "Registered"},
    "event.customer.tier_changed": {"zh": "客户等级变更", "en": "Tier changed"},
    "event.customer.msisdn_added": {"zh": "新增号码", "en": "Number added"},
    "event.customer.msisdn_released": {"zh": "号码释放", "en": "Number released"},
    "event.customer.merged": {"zh": "客户档案合并", "en": "Merged into another record"},
    "event.customer.unmerged": {"zh": "撤销档案合并", "en": "Merge undone"},
    "event.customer.duplicate_merged": {"zh": "并入重复档案", "en": "Duplicate record merged in"},
    "event.customer.duplicate_unmerged": {"zh": "重复档案已拆分", "en": "Duplicate record split off"},
    "event.caller.unidentified": {"zh": "未识别来电方", "en": "Unidentified caller"},
    "event.contact.identified": {"zh": "接触已归属客户", "en": "Contact identified"},
    "event.customer.erased": {"zh": "个人信息已删除", "en": "Personal data erased"},
    "event.contact.logged": {"zh": "接触记录", "en": "Contact"},
    "event.order.placed": {"zh": "受理订单", "en": "Order placed"},
    "event.service.activated": {"zh": "业务开通", "en": "Service activated"},
    "event.order.cancelled": {"zh": "订单撤销", "en": "Order cancelled"},
    "event.order.jeopardy": {"zh": "订单超时预警", "en": "Order in jeopardy"},
    "event.order.conflict": {"zh": "订单步骤冲突", "en": "Order step conflict"},
    "event.complaint.conflict": {"zh": "投诉步骤冲突", "en": "Complaint step conflict"},
    "event.complaint.opened": {"zh": "登记投诉", "en": "Opened"},
    "event.complaint.acknowledged": {"zh": "确认受理", "en": "Acknowledged"},
    "event.complaint.started": {"zh": "开始处理", "en": "Started"},
    "event.complaint.pended": {"zh": "等待客户回复", "en": "Pending on customer"},
    "event.complaint.held": {"zh": "挂起", "en": "Held"},
    "event.complaint.resumed": {"zh": "恢复处理", "en": "Resumed"},
    "event.complaint.handed_over": {"zh": "移交", "en": "Handed over"},
    "event.complaint.assigned": {"zh": "派单", "en": "Assigned"},
    "event.complaint.escalated": {"zh": "升级", "en": "Escalated"},
    "event.complaint.resolved": {"zh": "解决", "en": "Resolved"},
    "event.complaint.followed_up": {"zh": "回访", "en": "Followed up"},
    "event.complaint.closed": {"zh": "关闭", "en": "Closed"},
    "event.complaint.reopened": {"zh": "重新处理", "en": "Reopened"},
    "event.complaint.cancelled": {"zh": "撤销", "en": "Cancelled"},
    "event.complaint.rejected": {"zh": "驳回", "en": "Rejected"},
    "event.complaint.noted": {"zh": "备注", "en": "Note"},
    "event.complaint.sla_warning": {"zh": "时限预警", "en": "SLA warning"},
    "event.complaint.sla_breached": {"zh": "超过时限", "en": "SLA breached"},
    "event.complaint.linked": {"zh": "关联为重复投诉", "en": "Linked as a duplicate"},
    "detail.primary_id": {"zh": "主投诉", "en": "primary"},
    "detail.metric": {"zh": "时限类型", "en": "clock"},
    "metric.first_response": {"zh": "首次响应", "en": "first response"},
    "metric.resolution": {"zh": "处理时限", "en": "resolution"},
    "detail.deadline": {"zh": "时限", "en": "deadline"},
    "detail.level": {"zh": "级别", "en": "level"},
    "detail.allowance_s": {"zh": "时限", "en": "allowance"},
    "detail.policy": {"zh": "标准", "en": "policy"},
    "detail.clock": {"zh": "计时轮次", "en": "clock"},
    "detail.to": {"zh": "移交给", "en": "to"},
    "detail.from_owner": {"zh": "原处理人", "en": "from"},
    "detail.satisfaction": {"zh": "满意度", "en": "satisfaction"},
    "detail.elapsed_s": {"zh": "已用时", "en": "elapsed"},
    # --- navigation --------------------------------------------------------------------
    "nav.label": {"zh": "页面", "en": "Pages"},
    "nav.desk": {"zh": "服务台", "en": "Desk"},
    "nav.analytics": {"zh": "运营分析", "en": "Analytics"},
    "nav.queue": {"zh": "工作队列", "en": "Queues"},
    # --- the demo operator's codes (reasons, categories, services), shown by t.term; others as sent ---
    "reason.activation_status": {"zh": "开通进度查询", "en": "Activation status"},
    "reason.bill_payment": {"zh": "缴费", "en": "Bill payment"},
    "reason.bill_reminder": {"zh": "缴费提醒", "en": "Bill reminder"},
    "reason.billing_query": {"zh": "账单查询", "en": "Billing query"},
    "reason.broadband_slow": {"zh": "宽带网速慢", "en": "Slow broadband"},
    "reason.complaint": {"zh": "投诉", "en": "Complaint"},
    "reason.complaint_followup": {"zh": "投诉回访", "en": "Complaint follow-up"},
    "reason.customer_care": {"zh": "客户关怀", "en": "Customer care"},
    "reason.data_usage": {"zh": "流量查询", "en": "Data usage"},
    "reason.data_usage_alert": {"zh": "流量提醒", "en": "Data usage alert"},
    "reason.device_purchase": {"zh": "购机", "en": "Device purchase"},
    "reason.e_invoice": {"zh": "电子发票", "en": "E-invoice"},
    "reason.fibre_survey": {"zh": "光纤资源勘察", "en": "Fibre survey"},
    "reason.installation": {"zh": "上门装机", "en": "Installation"},
    "reason.invoice_print": {"zh": "打印发票", "en": "Invoice printing"},
    "reason.modem_replacement": {"zh": "更换光猫", "en": "Modem replacement"},
    "reason.network_fault": {"zh": "网络故障", "en": "Network fault"},
    "reason.new_line_request": {"zh": "新装号码", "en": "New line request"},
    "reason.new_order": {"zh": "新办业务", "en": "New order"},
    "reason.plan_change": {"zh": "套餐变更", "en": "Plan change"},
    "reason.plan_offer": {"zh": "套餐推荐", "en": "Plan offer"},
    "reason.points_redemption": {"zh": "积分兑换", "en": "Points redemption"},
    "reason.port_out_inquiry": {"zh": "携号转网咨询", "en": "Port-out inquiry"},
    "reason.repair": {"zh": "故障维修", "en": "Repair"},
    "reason.retention_offer": {"zh": "挽留优惠", "en": "Retention offer"},
    "reason.roaming": {"zh": "漫游", "en": "Roaming"},
    "reason.satisfaction_survey": {"zh": "满意度调查", "en": "Satisfaction survey"},
    "reason.sim_replacement": {"zh": "补换卡", "en": "SIM replacement"},
    "reason.customer_changed_mind": {"zh": "客户改变主意", "en": "Customer changed their mind"},
    "reason.duplicate_order": {"zh": "重复下单", "en": "Duplicate order"},
    "reason.no_broadband_resource_at_address": {"zh": "地址无宽带资源", "en": "No broadband resource at the address"},
    "reason.price_dispute": {"zh": "价格争议", "en": "Price dispute"},
    "reason.real_name_check_failed": {"zh": "实名认证未通过", "en": "Real-name check failed"},
    "category.billing": {"zh": "计费争议", "en": "Billing"},
    "category.broadband_speed": {"zh": "宽带网速", "en": "Broadband speed"},
    "category.network_quality": {"zh": "网络质量", "en": "Network quality"},
    "category.roaming_charges": {"zh": "漫游费用", "en": "Roaming charges"},
    "category.service_activation": {"zh": "业务开通", "en": "Service activation"},
    "category.staff_attitude": {"zh": "服务态度", "en": "Staff attitude"},
    "category.value_added_services": {"zh": "增值业务", "en": "Value-added services"},
    "service.broadband": {"zh": "宽带", "en": "Broadband"},
    "service.iptv": {"zh": "IPTV 电视", "en": "IPTV"},
    "service.landline": {"zh": "固话", "en": "Landline"},
    "service.mobile": {"zh": "移动电话", "en": "Mobile"},
    "service.fiber_1000m": {"zh": "千兆宽带", "en": "1000M fibre"},
    # --- the counter: a complaint accepted here, the visit itself ---------------------------
    "counter.heading": {"zh": "柜台受理", "en": "At the counter"},
    "counter.open": {"zh": "受理投诉（首问负责）", "en": "Open a complaint (you own it)"},
    "counter.visit": {"zh": "登记本次到店", "en": "Log this store visit"},
    "counter.about_complaint": {"zh": "关联投诉（可选）", "en": "About complaint (optional)"},
    "counter.submit.open": {"zh": "受理投诉", "en": "Open complaint"},
    "counter.submit.visit": {"zh": "登记到店", "en": "Log visit"},
    "counter.done.open": {"zh": "受理投诉", "en": "complaint opened"},
    "counter.done.visit": {"zh": "登记到店", "en": "visit logged"},
    "form.category": {"zh": "投诉类别", "en": "Category"},
    "form.summary": {"zh": "投诉内容", "en": "What the customer says"},
    "field.category": {"zh": "投诉类别", "en": "Category"},
    "field.summary": {"zh": "投诉内容", "en": "What the customer says"},
    "field.severity": {"zh": "严重程度", "en": "Severity"},
    "field.outcome": {"zh": "结果", "en": "Outcome"},
    "field.complaint_id": {"zh": "投诉单号", "en": "Complaint id"},
    "field.customer_id": {"zh": "客户编号", "en": "Customer id"},
    "field.primary_id": {"zh": "主投诉", "en": "Primary complaint"},
    "complaint.linked_to": {"zh": "重复投诉，随主投诉 {id} 办结", "en": "Duplicate: follows {id}"},
    "complaint.duplicates": {"zh": "关联的重复投诉", "en": "Linked duplicates"},
    # --- work queues --------------------------------------------------------------------
    "queue.heading": {"zh": "工作队列", "en": "Work queues"},
    "queue.mine": {"zh": "我的投诉", "en": "Mine"},
    "queue.store": {"zh": "本营业厅", "en": "My store"},
    "queue.due": {"zh": "即将超时 / 已超时", "en": "Due soon / overdue"},
    "queue.followup": {"zh": "待回访", "en": "Follow-ups to make"},
    "queue.count": {"zh": "共 {total} 条 · 第 {page} / {pages} 页", "en": "{total} in all · page {page} of {pages}"},
    "queue.empty": {"zh": "队列为空。", "en": "Nothing in this queue."},
    "queue.no_site": {
        "zh": "人员名录中没有 {name} 所在的营业厅（CONTACTHUB_SITES），无法列出本营业厅的投诉。",
        "en": "The staff directory (CONTACTHUB_SITES) does not put {name} at a site, so there is no store to list.",
    },
    "queue.prev": {"zh": "上一页", "en": "Previous"},
    "queue.next": {"zh": "下一页", "en": "Next"},
    "queue.col.complaint": {"zh": "投诉单号", "en": "Complaint"},
    # --- several clocks, follow-up calls --------------------------------------------------
    "sla.working_time": {"zh": "（按工作时间）", "en": "(working time)"},
    "sla.first_response": {"zh": "首次响应", "en": "First response"},
    "sla.responded": {"zh": "{time} 已响应", "en": "Answered {time}"},
    "sla.respond_by": {"zh": "须于 {time} 前响应", "en": "Answer by {time}"},
    "followup.label": {"zh": "回访", "en": "Follow-up call"},
    "followup.due": {"zh": "待回访，{time} 前", "en": "Due by {time}"},
    "followup.overdue": {"zh": "回访已逾期（应于 {time} 前）", "en": "Overdue (due by {time})"},
    "followup.done": {"zh": "{time} 已回访", "en": "Made {time}"},
    "followup.required": {"zh": "回访后方可关闭", "en": "needed before closing"},
    # --- the analytics page (/analytics) -------------------------------------------------
    "analytics.title": {"zh": "运营分析", "en": "Analytics"},
    "analytics.intro": {
        "zh": "按事件发生时间统计，日期为 {zone} 时间；每张图旁的表格列出准确数字。",
        "en": "Counted on event time, by local day in {zone}; the table beside each chart gives the exact numbers.",
    },
    "analytics.period_text": {
        "zh": "统计期：{first} 至 {last}（{days} 天）", "en": "Period: {first} to {last} ({days} days)",
    },
    "analytics.tier_text": {"zh": "客户等级：{tier}", "en": "Tier: {tier}"},
    "analytics.from": {"zh": "开始日期", "en": "From"},
    "analytics.to": {"zh": "结束日期", "en": "To"},
    "analytics.tier": {"zh": "客户等级", "en": "Tier"},
    "analytics.all_tiers": {"zh": "全部等级", "en": "All tiers"},
    "analytics.show": {"zh": "查看", "en": "Show"},
    "analytics.bad_date": {"zh": "「{value}」不是有效的日期。", "en": '"{value}" is not a valid date.'},
    "analytics.bad_tier": {"zh": "「{value}」不是客户等级。", "en": '"{value}" is not a customer tier.'},
    "analytics.reversed": {
        "zh": "开始日期（{first}）晚于结束日期（{last}）。",
        "en": "The period starts ({first}) after it ends ({last}).",
    },
    "analytics.too_long": {"zh": "统计期最长 {days} 天。", "en": "A period spans at most {days} days."},
    "analytics.period_hint": {
        "zh": "日期格式为 YYYY-MM-DD（例如 2026-11-02），年份在 {low} 到 {high} 之间；不填则为截至今天的 {days} 天。",
        "en": "Dates are YYYY-MM-DD (e.g. 2026-11-02), years {low} to {high}; left empty, the {days} days up to today.",
    },
    "analytics.empty": {"zh": "统计期内暂无数据", "en": "Nothing in this period"},
    "analytics.all": {"zh": "合计", "en": "All"},
    "kpi.contacts": {"zh": "接触次数", "en": "Contacts"},
    "kpi.orders": {"zh": "新下订单", "en": "Orders placed"},
    "kpi.activated": {"zh": "其中已开通", "en": "of which activated"},
    "kpi.jeopardy": {"zh": "其中曾被预警", "en": "of which flagged in jeopardy"},
    "kpi.complaints": {"zh": "受理投诉", "en": "Complaints opened"},
    "kpi.sla": {"zh": "投诉按时办结率", "en": "Complaint SLA compliance"},
    "unit.granularity.day": {"zh": "日", "en": "day"},
    "unit.granularity.week": {"zh": "周", "en": "week"},
    "unit.granularity.month": {"zh": "月", "en": "month"},
    "volume.heading": {"zh": "各渠道接触量（按{unit}）", "en": "Contacts per channel, by {unit}"},
    "volume.y": {"zh": "接触次数", "en": "Contacts"},
    "volume.totals": {"zh": "统计期合计", "en": "Totals for the period"},
    "volume.details": {"zh": "逐{unit}明细", "en": "Per {unit}"},
    "volume.col.day": {"zh": "日期", "en": "Day"},
    "volume.col.week": {"zh": "周（起始日）", "en": "Week from"},
    "volume.col.month": {"zh": "月份（起始日）", "en": "Month from"},
    "volume.col.contacts": {"zh": "接触次数", "en": "Contacts"},
    "volume.col.share": {"zh": "占比", "en": "Share"},
    "volume.note": {
        "zh": "所有渠道的接触记录（客户发起及我方发起），按发生日计入。",
        "en": "Every contact in every channel (inbound and outbound), on the day it happened.",
    },
    "calls.heading": {"zh": "开通前热线来电次数分布", "en": "Calls to activation"},
    "calls.x": {"zh": "开通前客户热线来电次数", "en": "Inbound hotline calls before activation"},
    "calls.y": {"zh": "已开通订单数", "en": "Activated orders"},
    "calls.col.calls": {"zh": "来电次数", "en": "Calls"},
    "calls.col.orders": {"zh": "订单数", "en": "Orders"},
    "calls.activated": {"zh": "已开通订单", "en": "Activated orders"},
    "calls.total": {"zh": "来电总数", "en": "Calls in all"},
    "calls.mean": {"zh": "平均", "en": "Mean"},
    "calls.median": {"zh": "中位数", "en": "Median"},
    "calls.p90": {"zh": "90 分位", "en": "90th percentile"},
    "calls.note": {
        "zh": "统计期内下单、现已全部开通的订单；来电指从下单到最后一项业务开通期间客户的热线呼入。",
        "en": "Orders placed in the period and now fully activated; calls are the customer's inbound hotline "
              "calls from the placing to the last activation.",
    },
    "compliance.heading": {"zh": "各等级投诉按时办结率", "en": "Complaint SLA compliance by tier"},
    "compliance.y": {"zh": "按时办结率", "en": "Met the deadline"},
    "compliance.none": {"zh": "无", "en": "none"},
    "compliance.col.complaints": {"zh": "投诉数", "en": "Complaints"},
    "compliance.col.met": {"zh": "按时办结", "en": "Met"},
    "compliance.col.missed": {"zh": "超时办结", "en": "Missed"},
    "compliance.col.overdue": {"zh": "超时未结", "en": "Overdue"},
    "compliance.col.rate": {"zh": "达成率", "en": "Compliance"},
    "compliance.note": {
        "zh": "统计期内受理的投诉（按受理时的客户等级）。"
              "达成率 = 按时办结 ÷（按时办结 + 超时办结 + 超时未结）；尚未到期的未结投诉不计入。",
        "en": "Complaints opened in the period, by the tier at opening. Compliance = met ÷ (met + missed + overdue "
              "and unresolved); open complaints not yet due are not counted.",
    },
    "jeopardy.heading": {"zh": "预警订单（在途）", "en": "Open orders in jeopardy"},
    "jeopardy.x": {"zh": "下单至今天数", "en": "Days since the order was placed"},
    "jeopardy.calls_note": {"zh": "{n} 次来电", "en": "{n} calls"},
    "jeopardy.calls_note_one": {"zh": "1 次来电", "en": "1 call"},
    "jeopardy.none": {"zh": "目前没有预警中的在途订单", "en": "No open order is in jeopardy"},
    "jeopardy.rule": {
        "zh": "预警标准：下单后 {days} 天仍未全部开通，或期间客户热线来电达 {calls} 次。",
        "en": "In jeopardy: not fully activated {days} days after the placing, or at the customer's {calls}th "
              "inbound hotline call meanwhile.",
    },
    "jeopardy.now": {
        "zh": "当前所有等级的在途预警订单，不受统计期限制，等待最久的在前。",
        "en": "Every open order in jeopardy now, of every tier and whatever the period; longest waiting first.",
    },
    "jeopardy.showing": {
        "zh": "显示等待最久的 {shown} 个，共 {total} 个。", "en": "Showing the {shown} longest waiting of {total}.",
    },
    "jeopardy.in_period": {
        "zh": "统计期内下单的订单中：{flagged} 个曾被预警，{open} 个仍在途。",
        "en": "Of the orders placed in the period, {flagged} were flagged in jeopardy and {open} of them are "
              "still open.",
    },
    "jeopardy.col.order": {"zh": "订单号", "en": "Order"},
    "jeopardy.col.customer": {"zh": "客户", "en": "Customer"},
    "jeopardy.col.state": {"zh": "状态", "en": "State"},
    "jeopardy.col.placed_at": {"zh": "下单时间", "en": "Placed"},
    "jeopardy.col.waiting": {"zh": "已等待", "en": "Waiting"},
    "jeopardy.col.calls": {"zh": "来电", "en": "Calls"},
    "jeopardy.col.contacts": {"zh": "接触", "en": "Contacts"},
    "jeopardy.col.visits": {"zh": "装维上门", "en": "Visits"},
    "jeopardy.col.pending": {"zh": "待开通业务", "en": "Pending services"},
    "jeopardy.col.reasons": {"zh": "预警原因", "en": "Why"},
    "jeopardy.col.flagged_at": {"zh": "预警时间", "en": "Flagged"},
    "jeopardy.journey_link": {"zh": "订单旅程（JSON）", "en": "The order's journey (JSON)"},
    "jeopardy_reason.days": {"zh": "等待超时", "en": "too long"},
    "jeopardy_reason.calls": {"zh": "来电过多", "en": "too many calls"},
}


@dataclass(frozen=True)
class Translator:
    """The desk's words in one language; handed to the templates as `t`."""

    lang: str

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    def __call__(self, key: str, **values: object) -> str:
        entry = TEXT.get(key)
        text = entry[self.lang] if entry else key
        return text.format(**values) if values else text

    def term(self, kind: str, value: object) -> str:
        """A vocabulary value (`term("status", "held")` -> 挂起); an unknown value is shown as it is."""
        if value is None:
            return ""
        entry = TEXT.get(f"{kind}.{value}")
        return entry[self.lang] if entry else str(value)

    def has(self, key: str) -> bool:
        return key in TEXT

    def duration(self, seconds: float | None) -> str:
        """The two largest units: 2天4小时, 3小时12分, 45分 (2 d 4 h, 3 h 12 min, 45 min)."""
        total_min = max(0, math.floor((seconds or 0) / 60))
        days, rest = divmod(total_min, 24 * 60)
        hours, minutes = divmod(rest, 60)
        units = [("d", days), ("h", hours), ("m", minutes)]
        first = next((i for i, (_, n) in enumerate(units) if n), len(units) - 1)
        shown = [units[first]] + [u for u in units[first + 1 : first + 2] if u[1]]
        return self("unit.join").join(self(f"unit.{u}", n=n) for u, n in shown)

    def sla_text(self, sla: dict[str, object]) -> str:
        """How a complaint stands against its time limit, in words: 剩余 3小时12分 / 已超时 2天4小时 / 已暂停."""
        state = sla.get("state")
        if state in ("on_track", "due_soon"):
            return self("sla.left", d=self.duration(sla.get("time_left_s")))  # type: ignore[arg-type]
        if state == "breached":
            return self("sla.overdue", d=self.duration(sla.get("overdue_s")))  # type: ignore[arg-type]
        if state == "paused":
            return self("sla.paused_left", d=self.duration(sla.get("time_left_s")))  # type: ignore[arg-type]
        if state == "met":
            return self("sla.met_text")
        if state == "missed":
            return self("sla.missed_text", d=self.duration(sla.get("overdue_s")))  # type: ignore[arg-type]
        return self.term("sla", state)


def when(text: str | None) -> str:
    """An RFC 3339 time (already in the operator's zone) as `YYYY-MM-DD HH:MM`."""
    if not text:
        return ""
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")


def choose_language(query: str | None, cookie: str | None) -> tuple[str, bool]:
    """The page's language, and whether the choice is new (to be remembered in the cookie)."""
    if query in LANGUAGES:
        return query, query != cookie
    if cookie in LANGUAGES:
        return cookie, False
    return DEFAULT_LANGUAGE, False
