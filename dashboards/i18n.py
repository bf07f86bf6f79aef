"""The dashboards' texts in English and Simplified Chinese, and which one a request gets.

The language is `?lang=` (then remembered in a cookie), else that cookie, else the best of
Accept-Language, else English. Templates read `t.<key>`; a key missing in one language fails
the render (StrictUndefined) and tests/test_operator.py checks both have the same keys.
The consent and e-mail statistics (admin views) are in English only for now.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "consentry_dash_lang"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "lang_name": "English",
        "dashboard": "Consentry dashboard",
        # navigation
        "nav_views": "Views",
        "nav_consent": "Consent",
        "nav_email": "E-mail",
        "nav_ledger": "Ledger lookup",
        "nav_people": "People",
        "nav_all_sites": "All sites",
        "logout": "Log out",
        "role_operator": "operator",
        "switch_language": "Language",
        # login
        "login_title": "Log in",
        "login_heading": "Log in to the dashboard",
        "user_name": "User name",
        "password": "Password",
        "password_hint": "Or leave the name empty and paste a site admin key.",
        "login_button": "Log in",
        "login_wrong": "Wrong name, password or admin key.",
        "login_expired": "The login form has expired. Reload the page and try again.",
        "login_too_many": "Too many login attempts from this network; wait a minute.",
        # errors
        "not_available": "Not available",
        "back": "Back to the dashboard",
        "no_such_site": "No such site, or not one of yours.",
        "form_expired": "This form has expired or did not come from this dashboard. "
                        "Reload the page and try again.",
        "operator_may_not": "An operator may not do this. Ask the site's privacy officer.",
        # home
        "your_sites": "Your sites",
        "site": "Site",
        # people view
        "people_title": "People",
        "find_heading": "Find a person",
        "find_by": "Find by",
        "kind_email": "E-mail address",
        "kind_phone": "Phone number",
        "kind_ref": "Account reference",
        "value": "E-mail address, phone number (+86…) or account reference",
        "find": "Find",
        "find_note": "The value is hashed with this site's key into a pseudonym on the fly; it "
                     "is neither stored nor put in a URL. A phone number needs its country "
                     "code, e.g. +8613800138000.",
        "unknown_email": "No person is known by this e-mail address.",
        "unknown_phone": "No person is known by this phone number.",
        "unknown_ref": "No person is known by this account reference.",
        "unknown_person": "No person with this pseudonym is known.",
        "bad_email": "This is not an e-mail address.",
        "bad_phone": "This is not a phone number in international (E.164) form: a “+”, the "
                     "country code and the number, e.g. +8613800138000.",
        "bad_ref": "An account reference is 1 to 200 characters, without control characters "
                   "or “/” and without spaces at either end.",
        "bad_kind": "Choose what to find by: e-mail address, phone number or account reference.",
        "person": "Person",
        "linked": "Linked identifiers",
        "events": "events",
        "current_choices": "Current choices",
        "purposes": "Purposes",
        "vendors": "Vendors",
        "separate": "Separate consents",
        "channels": "Channels",
        "item": "Item",
        "list": "List",
        "answer": "Answer",
        "when": "When (UTC)",
        "event": "Event",
        "via": "Via",
        "via_ref": "member record",
        "via_consent": "browser (banner)",
        "via_email": "e-mail address",
        "via_phone": "phone number",
        "via_push": "push device",
        "granted": "granted",
        "refused": "refused",
        "allowed": "allowed",
        "not_allowed": "opted out",
        "nothing_recorded": "Nothing recorded.",
        "all_lists": "all lists",
        "ch_email": "E-mail",
        "ch_sms": "SMS",
        "ch_push": "Push notifications",
        "ch_phone": "Phone calls",
        "record_heading": "Record a withdrawal or opt-out",
        "record_intro": "Tick what the person withdraws. It is stored in the ledger as their "
                        "event, with the method, your name and the call reference; a later "
                        "import never re-grants it.",
        "withdraw_what": "What the person withdraws",
        "withdraw_granted": "Currently granted",
        "withdraw_channel": "A whole channel",
        "nothing_granted": "Nothing is currently granted.",
        "method": "How the request came",
        "method_phone": "Phone call",
        "method_email_request": "E-mail request",
        "reference": "Call reference",
        "reference_hint": "Required: the call or ticket number.",
        "note": "Note",
        "record_button": "Record the withdrawal",
        # lifecycle (people view)
        "lifecycle": "Account lifecycle",
        "account_closed_at": "Account closed at",
        "is_minor": "Recorded as a minor: optional consents were withdrawn.",
        "guardian_consent": "Guardian consent",
        "delete_needed": "Deletion needed: a minor without a guardian's consent.",
        "retention_heading": "Scheduled anonymisation",
        "col_category": "Data category",
        "col_days": "Days after closure",
        "col_due": "Due on",
        "col_pending": "Events held",
        "cat_cross_border": "Cross-border consents",
        "cat_browsers": "Linked browsers' banner choices",
        "cat_marketing": "E-mail, SMS, push and phone answers",
        "cat_default": "Other records",
        "erase_due": "The person is erased whole on",
        "lifecycle_heading": "Record an account closure or a minor",
        "lifecycle_intro": "Closing the account starts the retention clocks above; `consentry "
                           "purge` anonymises each category on its day. Marking a minor "
                           "withdraws every optional consent at once and asks for deletion "
                           "unless a guardian's consent is recorded.",
        "fact_account_closed": "Record the account closure",
        "fact_minor": "Record that the person is a minor",
        "lc_method": "How the member told us",
        "lc_reference": "Reference (call, ticket or letter)",
        "lc_comment": "Comment",
        "scheduled_heading": "Closed accounts: scheduled anonymisation",
        "col_closed": "Closed at",
        "col_next": "Next due",
        "col_erase": "Erased whole on",
        "nothing_chosen": "Tick at least one item to withdraw.",
        "unknown_item": "This item is not one of the site's purposes, separate consents or "
                        "channel lists. Reload the page and try again.",
        "reference_required": "The call reference is required.",
        "reference_bad": "The call reference is at most 200 characters, without line breaks.",
        "note_bad": "The note is at most 2000 characters.",
        "bad_method": "Choose how the request came: phone call or e-mail request.",
        "recorded": "Recorded as event",
        "see_ledger": "See this person in the ledger lookup",
        # recipients view (per-recipient items, filing thresholds)
        "nav_recipients": "Recipients",
        "recipients_title": "Recipients",
        "recipients_intro": "Per item asked recipient by recipient (cross-border or third-party "
                            "provision): how many distinct people agreed to give their "
                            "information to at least one recipient in the calendar year (UTC). "
                            "This is the number China's cross-border filing thresholds count; a "
                            "later withdrawal does not lower it, since the data went out.",
        "year": "Year",
        "show": "Show",
        "bad_year": "A year is four digits, e.g. 2026. Showing this year instead.",
        "no_per_recipient": "This site has no item asked per recipient (a separate item with "
                            "per_recipient = true).",
        "item_kind_cross_border": "cross-border provision",
        "item_kind_third_party": "provision to another controller",
        "people_agreed": "people agreed in {year}",
        "thresholds": "Filing thresholds",
        "threshold": "Threshold (people)",
        "share": "Reached so far",
        "status": "Status",
        "status_below": "below",
        "status_near": "approaching",
        "status_reached": "reached",
        "no_thresholds": "No filing thresholds are configured for this kind of item "
                         "(filing_thresholds).",
        "threshold_near": "Warning: {n} people so far in {year}, {pct} of the filing threshold "
                          "of {t}. Prepare the filing (standard contract, certification or "
                          "security assessment) before it is reached.",
        "threshold_reached": "Threshold reached: {n} people in {year}, at or above the filing "
                             "threshold of {t}. This year's transfers need the filing that goes "
                             "with it; ask your privacy officer.",
        "warn_note": "A warning shows from {pct} of a threshold (filing_warn_at).",
        "top_heading": "Recipients with the most agreements in {year}",
        "top_note": "People whose current answer for the recipient is an agreement given in "
                    "this year; a withdrawn agreement no longer counts here (it still counts "
                    "above). Names and countries as last shown to a person.",
        "col_recipient": "Recipient",
        "col_people": "People",
        "no_recipients": "No standing agreement was given in this year.",
        # per-recipient grants (people view, ledger lookup)
        "recipients_heading": "Per-recipient consents",
        "agreed": "agreed",
        "not_agreed": "not agreed",
        "already_withdrawn": "This was withdrawn meanwhile (another tab, or the person's own "
                             "page); the page shows the current state.",
        "col_about": "About",
        "ask_agree": "agreed",
        "ask_disagree": "did not agree",
        "ask_withdraw": "withdrew",
        "method_in_context": "asked in context",
        "method_api": "backend API",
        "method_self_service": "self-service page",
        # ledger lookup
        "ledger_title": "Ledger lookup",
        "ledger_query": "Consent id, recipient id or e-mail address, or a person id",
        "ledger_note": "An e-mail address is hashed with this site's key on the fly into its "
                       "recipient id; the address is neither stored nor put in a URL.",
        "verify_button": "Verify this site's hash chain",
        "chain_intact": "Chain intact",
        "chain_checked": "events checked, every link and the chain head match.",
        "chain_broken": "Chain broken",
        "chain_after": "after",
        "chain_good": "good events",
        "erased": "Erased",
        "erased_rows": "rows anonymised or detached. The chain stays verifiable and the "
                       "erasure itself is recorded in the ledger.",
        "kind_c": "Consent id",
        "kind_r": "E-mail recipient",
        "kind_p": "Person",
        "confirm_erase": "Erase this subject?",
        "confirm_erase_text": "Its ledger events lose their personal fields (subject id, "
                              "truncated IP); page events and e-mail engagement lose the link "
                              "to it. Consent counts and the hash chain stay. This cannot be "
                              "undone.",
        "yes_erase": "Yes, erase",
        "cancel": "Cancel",
        "no_events": "No ledger events for this subject (never recorded, or erased).",
        "export": "Export (JSON)",
        "erase": "Erase…",
        "current_latest": "Current choices",
        "current_latest_note": "(latest event with choices):",
        "email_consents": "E-mail consents",
        "tracking": "tracking",
        "never_asked": "never asked",
        "yes": "yes",
        "no": "no",
        "events_heading": "Events",
        "col_seq": "Seq",
        "col_time": "Time (UTC)",
        "col_kind": "Kind",
        "col_action": "Action",
        "col_regime": "Regime",
        "col_country": "Country",
        "col_language": "Language",
        "col_revision": "Rev.",
        "col_device": "Device",
        "col_method": "Method",
        "col_operator": "Operator",
        "col_reference": "Reference",
        "col_shown": "Shown",
        "full_event": "Full event (hash",
        "shown_heading": "What was shown",
        "notice": "Notice",
        "revision": "revision",
        "no_notices": "No notice texts stored for these events.",
        "ledger_bad_query": "Enter a consent id (c_…), a recipient id (r_…), a person id (p_…) "
                            "or an e-mail address.",
        "no_records": "No records for this subject.",
        "no_subject": "No subject to erase.",
    },
    "zh-CN": {
        "lang_name": "简体中文",
        "dashboard": "Consentry 管理后台",
        "nav_views": "视图",
        "nav_consent": "同意统计",
        "nav_email": "邮件",
        "nav_ledger": "台账查询",
        "nav_people": "用户",
        "nav_all_sites": "所有站点",
        "logout": "退出登录",
        "role_operator": "客服",
        "switch_language": "语言",
        "login_title": "登录",
        "login_heading": "登录管理后台",
        "user_name": "用户名",
        "password": "密码",
        "password_hint": "或者不填用户名，粘贴站点的管理员密钥。",
        "login_button": "登录",
        "login_wrong": "用户名、密码或管理员密钥错误。",
        "login_expired": "登录表单已过期，请刷新页面后重试。",
        "login_too_many": "此网络的登录尝试次数过多，请一分钟后再试。",
        "not_available": "无法访问",
        "back": "返回管理后台",
        "no_such_site": "没有这个站点，或者您无权访问。",
        "form_expired": "此表单已过期或并非来自本后台。请刷新页面后重试。",
        "operator_may_not": "客服无权执行此操作。请联系本站点的个人信息保护负责人。",
        "your_sites": "您的站点",
        "site": "站点",
        "people_title": "用户",
        "find_heading": "查找用户",
        "find_by": "查找方式",
        "kind_email": "电子邮箱",
        "kind_phone": "手机号码",
        "kind_ref": "账号编号",
        "value": "电子邮箱、手机号码（+86…）或账号编号",
        "find": "查找",
        "find_note": "输入的内容会用本站点的密钥即时转换为假名，既不存储，也不会出现在网址中。"
                     "手机号码需要带国家代码，例如 +8613800138000。",
        "unknown_email": "没有找到使用此电子邮箱的用户。",
        "unknown_phone": "没有找到使用此手机号码的用户。",
        "unknown_ref": "没有找到此账号编号对应的用户。",
        "unknown_person": "没有找到此假名对应的用户。",
        "bad_email": "这不是有效的电子邮箱地址。",
        "bad_phone": "这不是国际格式（E.164）的手机号码：应以“+”开头，后接国家代码和号码，"
                     "例如 +8613800138000。",
        "bad_ref": "账号编号为 1 至 200 个字符，不能包含控制字符或“/”，首尾不能有空格。",
        "bad_kind": "请选择查找方式：电子邮箱、手机号码或账号编号。",
        "person": "用户",
        "linked": "已关联的标识",
        "events": "条事件",
        "current_choices": "当前选择",
        "purposes": "用途",
        "vendors": "第三方",
        "separate": "单独同意",
        "channels": "联系渠道",
        "item": "项目",
        "list": "列表",
        "answer": "选择",
        "when": "时间（UTC）",
        "event": "事件",
        "via": "来源",
        "via_ref": "账号记录",
        "via_consent": "浏览器（横幅）",
        "via_email": "电子邮箱",
        "via_phone": "手机号码",
        "via_push": "推送设备",
        "granted": "已同意",
        "refused": "已拒绝",
        "allowed": "允许",
        "not_allowed": "已退订",
        "nothing_recorded": "暂无记录。",
        "all_lists": "所有列表",
        "ch_email": "电子邮件",
        "ch_sms": "短信",
        "ch_push": "推送通知",
        "ch_phone": "电话",
        "record_heading": "记录撤回同意或退订",
        "record_intro": "勾选用户要撤回的项目。它会作为该用户的事件记入台账，并附上方式、您的姓名和"
                        "来电编号；之后的导入不会重新授予。",
        "withdraw_what": "用户撤回的项目",
        "withdraw_granted": "当前已同意",
        "withdraw_channel": "整个渠道",
        "nothing_granted": "当前没有已同意的项目。",
        "method": "请求方式",
        "method_phone": "电话",
        "method_email_request": "邮件请求",
        "reference": "来电编号",
        "reference_hint": "必填：来电或工单编号。",
        "note": "备注",
        "record_button": "记录撤回",
        # lifecycle (people view)
        "lifecycle": "账号生命周期",
        "account_closed_at": "账号注销时间",
        "is_minor": "已登记为未成年人：所有非必要同意已撤回。",
        "guardian_consent": "监护人同意",
        "delete_needed": "需要删除：未成年人且无监护人同意。",
        "retention_heading": "计划中的匿名化",
        "col_category": "数据类别",
        "col_days": "注销后天数",
        "col_due": "到期日",
        "col_pending": "保留的事件",
        "cat_cross_border": "跨境同意",
        "cat_browsers": "已关联浏览器的横幅选择",
        "cat_marketing": "电子邮件、短信、推送和电话的答复",
        "cat_default": "其他记录",
        "erase_due": "该用户将被完全删除的日期",
        "lifecycle_heading": "登记账号注销或未成年人",
        "lifecycle_intro": "注销账号会启动上面的保存期限；`consentry purge` 在每个类别到期当天将其"
                           "匿名化。登记为未成年人会立即撤回所有非必要同意，并在没有监护人同意记录时"
                           "要求删除。",
        "fact_account_closed": "登记账号注销",
        "fact_minor": "登记为未成年人",
        "lc_method": "用户告知的方式",
        "lc_reference": "编号（来电、工单或信件）",
        "lc_comment": "说明",
        "scheduled_heading": "已注销账号：计划中的匿名化",
        "col_closed": "注销时间",
        "col_next": "下一次到期",
        "col_erase": "完全删除日期",
        "nothing_chosen": "请至少勾选一个要撤回的项目。",
        "unknown_item": "此项目不是本站点的用途、单独同意或联系渠道列表。请刷新页面后重试。",
        "reference_required": "来电编号为必填项。",
        "reference_bad": "来电编号最多 200 个字符，不能换行。",
        "note_bad": "备注最多 2000 个字符。",
        "bad_method": "请选择请求方式：电话或邮件请求。",
        "recorded": "已记录为事件",
        "see_ledger": "在台账查询中查看此用户",
        "nav_recipients": "接收方",
        "recipients_title": "接收方统计",
        "recipients_intro": "按接收方逐一询问的项目（向境外或向其他个人信息处理者提供）：在本日历年"
                            "（UTC）内同意向至少一个接收方提供其个人信息的不同个人数量。这正是中国数据"
                            "出境申报门槛所统计的数字；之后撤回同意不会使其减少，因为数据已经提供。",
        "year": "年份",
        "show": "显示",
        "bad_year": "年份为四位数字，例如 2026。现显示本年度。",
        "no_per_recipient": "本站点没有按接收方逐一询问的项目（per_recipient = true 的单独同意项目）。",
        "item_kind_cross_border": "向境外提供",
        "item_kind_third_party": "向其他个人信息处理者提供",
        "people_agreed": "{year} 年同意的人数",
        "thresholds": "申报门槛",
        "threshold": "门槛（人数）",
        "share": "已达比例",
        "status": "状态",
        "status_below": "未达到",
        "status_near": "即将达到",
        "status_reached": "已达到",
        "no_thresholds": "未为此类项目配置申报门槛（filing_thresholds）。",
        "threshold_near": "警告：{year} 年至今已有 {n} 人，达到申报门槛 {t} 人的 {pct}。请在达到门槛"
                          "之前准备申报（标准合同、认证或安全评估）。",
        "threshold_reached": "已达到门槛：{year} 年已有 {n} 人，达到或超过申报门槛 {t} 人。本年度的"
                             "出境提供需要相应的申报，请咨询个人信息保护负责人。",
        "warn_note": "达到门槛的 {pct} 时显示警告（filing_warn_at）。",
        "top_heading": "{year} 年同意人数最多的接收方",
        "top_note": "对该接收方的当前选择为本年内作出的同意的人数；已撤回的同意在此不再计入（上方"
                    "统计仍计入）。名称和国家为最近一次向用户展示的内容。",
        "col_recipient": "接收方",
        "col_people": "人数",
        "no_recipients": "本年内没有仍然有效的同意。",
        "recipients_heading": "逐一接收方的单独同意",
        "agreed": "已同意",
        "not_agreed": "未同意",
        "already_withdrawn": "此项已被撤回（在其他标签页或由用户本人的页面）；页面显示当前状态。",
        "col_about": "内容",
        "ask_agree": "同意",
        "ask_disagree": "不同意",
        "ask_withdraw": "撤回",
        "method_in_context": "场景内询问",
        "method_api": "后端接口",
        "method_self_service": "自助页面",
        "ledger_title": "台账查询",
        "ledger_query": "同意编号、收件人编号或电子邮箱，或者用户编号",
        "ledger_note": "电子邮箱会用本站点的密钥即时转换为收件人编号，既不存储，也不会出现在网址中。",
        "verify_button": "校验本站点的哈希链",
        "chain_intact": "哈希链完整",
        "chain_checked": "条事件已校验，每个链接和链头均一致。",
        "chain_broken": "哈希链已断开",
        "chain_after": "：在",
        "chain_good": "条正常事件之后",
        "erased": "已删除",
        "erased_rows": "行已匿名化或解除关联。哈希链仍可校验，删除操作本身也记入台账。",
        "kind_c": "同意编号",
        "kind_r": "邮件收件人",
        "kind_p": "用户",
        "confirm_erase": "删除此主体？",
        "confirm_erase_text": "其台账事件将失去个人字段（主体编号、截断的 IP）；页面事件和邮件互动将不再与其"
                              "关联。同意统计和哈希链保留。此操作无法撤销。",
        "yes_erase": "确认删除",
        "cancel": "取消",
        "no_events": "此主体没有台账事件（从未记录，或已删除）。",
        "export": "导出（JSON）",
        "erase": "删除…",
        "current_latest": "当前选择",
        "current_latest_note": "（最近一次包含选择的事件）：",
        "email_consents": "邮件同意",
        "tracking": "追踪",
        "never_asked": "从未询问",
        "yes": "是",
        "no": "否",
        "events_heading": "事件",
        "col_seq": "序号",
        "col_time": "时间（UTC）",
        "col_kind": "类型",
        "col_action": "操作",
        "col_regime": "规则",
        "col_country": "国家",
        "col_language": "语言",
        "col_revision": "版本",
        "col_device": "设备",
        "col_method": "方式",
        "col_operator": "操作人",
        "col_reference": "编号",
        "col_shown": "展示内容",
        "full_event": "完整事件（哈希",
        "shown_heading": "展示的内容",
        "notice": "告知",
        "revision": "版本",
        "no_notices": "这些事件没有存储告知文本。",
        "ledger_bad_query": "请输入同意编号（c_…）、收件人编号（r_…）、用户编号（p_…）或电子邮箱。",
        "no_records": "此主体没有记录。",
        "no_subject": "没有要删除的主体。",
    },
}


def texts(lang: str) -> dict[str, str]:
    return TEXTS.get(lang, TEXTS[DEFAULT])


def pick(tag: str | None) -> str | None:
    """One of LANGUAGES for a tag like zh, zh-cn, zh-Hans-CN, en-GB; None if none fits."""
    if not tag:
        return None
    t = tag.strip().lower().replace("_", "-")
    if t.startswith("zh") and not any(x in t.split("-") for x in ("hant", "tw", "hk", "mo")):
        return "zh-CN"
    if t == "en" or t.startswith("en-"):
        return "en"
    return None


def accept_language(header: str | None) -> str | None:
    """The first of our languages in an Accept-Language header, by quality then order."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        lang = pick(tag)
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def choose(query: str | None, cookie: str | None, header: str | None) -> str:
    return pick(query) or pick(cookie) or accept_language(header) or DEFAULT
