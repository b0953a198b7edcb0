"""The pages' words, Chinese first. `t(key)` in templates and views;
`js_strings()` hands the tablet's script the words it needs."""
from __future__ import annotations

from flask import request, session

LANGS = ("zh", "en")
DEFAULT = "zh"

STRINGS: dict[str, tuple[str, str]] = {
    # key: (简体中文, English)
    "app": ("垃圾分类监督", "sortwatch"),
    "app_long": ("sortwatch 垃圾分类监督系统", "sortwatch waste-sorting supervision"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong username or password"),
    "login_hint": ("请使用管理员为您开设的账号登录。", "Log in with the account your administrator gave you."),
    "session_expired": ("登录已过期，请重新登录。", "Your session has expired; please log in again."),
    "csrf_failed": ("表单已过期，请刷新页面后重试。", "The form has expired; reload the page and try again."),
    "lang_switch": ("English", "中文"),
    "forbidden": ("无权访问", "Not allowed"),
    "forbidden_text": ("此页面不在您的管辖范围内。", "This page is outside your scope."),
    "not_found": ("未找到", "Not found"),
    "bad_request": ("请求有误", "Bad request"),
    "back_home": ("返回首页", "Back to my page"),
    "role_city": ("市级", "City"),
    "role_district": ("区级", "District"),
    "role_street": ("街道", "Street"),
    "role_community": ("社区", "Community"),
    "role_volunteer": ("志愿者", "Volunteer"),
    "level_city": ("全市", "City"),
    "level_district": ("区", "District"),
    "level_street": ("街道", "Street"),
    "level_community": ("社区", "Community"),
    "levels_district": ("各区", "Districts"),
    "levels_street": ("各街道", "Streets"),
    "levels_community": ("各社区", "Communities"),
    # rates
    "accuracy": ("自主投放准确率", "Self-directed accuracy"),
    "participation": ("参与率", "Participation"),
    "awareness": ("知晓率", "Awareness"),
    "target": ("目标", "target"),
    "met": ("达标", "met"),
    "not_met": ("未达标", "not met"),
    "no_data": ("暂无数据", "no data"),
    "not_measured": ("未测量（桶站未识别住户）", "not measured (stations do not identify households)"),
    "no_tokens_yet": ("暂无数据：本期尚未收到住户识别", "no data yet: no household has been identified this period"),
    "reader_silent": ("读卡器昨日无住户识别", "reader sent no household yesterday"),
    "basis_accuracy": ("正确 {n} / 判定 {d}", "{n} correct of {d} judged"),
    "basis_participation": ("参与 {n} 户 / 有读卡桶站社区登记 {d} 户",
                            "{n} of {d} households took part (registered in communities with a reader)"),
    "registered_all": ("登记户数（全部）", "Households (all registered)"),
    "scroll_hint": ("← 左右滑动查看 →", "← scroll sideways →"),
    "basis_awareness": ("知晓 {n} 人 / 受访 {d} 人", "{n} aware of {d} respondents"),
    "interval": ("95% 置信区间", "95% interval"),
    "coverage": ("判定覆盖率", "Coverage (judged share)"),
    "online_share": ("在线率", "Online share"),
    "staffed": ("值守时段", "staffed hours"),
    "unstaffed": ("非值守时段", "unstaffed hours"),
    "disposals": ("投放次数", "Disposals"),
    "assisted": ("协助投放", "Assisted"),
    "uncertain": ("无法判定", "Uncertain"),
    "correct": ("正确", "Correct"),
    "wrong": ("错误", "Wrong"),
    "month": ("月份", "Month"),
    "show": ("查看", "Show"),
    "period": ("统计期", "Period"),
    "period_month": ("自然月", "calendar month"),
    "period_inspection": ("考核月（上月20日–本月19日）", "inspection month (20th to 19th)"),
    # dashboard
    "dashboard": ("数据看板", "Dashboard"),
    "trend": ("本月每日趋势", "Daily trend this month"),
    "trend_legend": ("折线：自主投放准确率；柱：投放次数；虚线：目标",
                     "line: accuracy; bars: disposals; dashed: target"),
    "ranking_siblings": ("同级排名", "Ranking among neighbours"),
    "rank": ("排名", "Rank"),
    "rank_of": ("第 {r} 名 / 共 {n} 个", "{r} of {n}"),
    "change": ("环比", "vs last month"),
    "up": ("上升", "up"),
    "down": ("下降", "down"),
    "same": ("持平", "same"),
    "new": ("新", "new"),
    "station_health": ("桶站状态", "Station health"),
    "station": ("桶站", "Station"),
    "online": ("在线", "online"),
    "offline": ("离线", "offline"),
    "never_seen": ("从未上线", "never seen"),
    "since": ("自 {t}", "since {t}"),
    "last_heartbeat": ("最近心跳", "Last heartbeat"),
    "events_today": ("今日事件", "Events today"),
    "dead_letters": ("死信", "Dead letters"),
    "versions": ("模型/规则", "Model / rules"),
    "bin_full": ("满冒", "Overflow"),
    "litter": ("落地", "Litter"),
    "worst_stations": ("错误最多的桶站", "Worst stations"),
    "worst_hours": ("错误最多的时段", "Worst hours"),
    "latest_wrong": ("最近的错误投放", "Latest wrong disposals"),
    "evidence": ("现场图片", "Evidence"),
    "no_evidence": ("无图片", "no image"),
    "time": ("时间", "Time"),
    "item": ("物品", "Item"),
    "put_in": ("投入", "Put in"),
    "should_be": ("应投", "Belongs in"),
    "hour_range": ("{h}:00–{h2}:00", "{h}:00–{h2}:00"),
    "not_available": ("该数据暂不可用（服务器缺少：{what}）", "Not available yet (server lacks: {what})"),
    "nothing_yet": ("暂无记录", "Nothing yet"),
    "open_tablet": ("打开值守平板", "Open tablet"),
    "rankings": ("排名与下载", "Rankings and downloads"),
    # rankings page
    "ranking_of": ("{level}排名", "{level} ranking"),
    "within": ("范围", "Within"),
    "whole_city": ("全市", "whole city"),
    "metric": ("排名指标", "Ranked by"),
    "level": ("层级", "Level"),
    "red_list": ("红榜（最好）", "Red list (best)"),
    "black_list": ("黑榜（最差）", "Black list (worst)"),
    "download": ("下载统计表", "Download statistics"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "download_hint": ("每行一个{level}，含户数、投放、三率及达标情况。",
                      "One row per {level} with households, disposals, the three rates and targets met."),
    "name": ("名称", "Name"),
    "code": ("代码", "Code"),
    "households": ("户数", "Households"),
    "rows_shown": ("仅显示前 {n} 名（共 {total} 个）；完整名单请下载统计表。",
                   "Showing the first {n} of {total}; download the statistics for all of them."),
    "no_data_last": ("无数据（排在最后）", "no data (listed last)"),
    # tablet
    "tablet_title": ("桶站值守", "Station duty"),
    "start_duty": ("开始值守", "Start duty"),
    "start_hint": ("点击后全屏显示并开启提示音", "Tap to go full screen and turn on the sound"),
    "waiting": ("等待投放…", "Waiting for the next disposal…"),
    "offline_banner": ("网络已断开，正在重新连接…", "Offline: reconnecting…"),
    "today": ("今日", "Today"),
    "helped": ("我已协助", "I helped"),
    "camera_wrong": ("摄像头判断错了", "The camera was wrong"),
    "which_item": ("实际是什么物品？", "What was it really?"),
    "cancel": ("取消", "Cancel"),
    "ok": ("知道了", "OK"),
    "saved": ("已记录", "Saved"),
    "save_failed": ("保存失败，请重试", "Could not save; try again"),
    "quiz": ("居民答题", "Resident quiz"),
    "quiz_question": ("{item} 应该投入哪个桶？", "Which bin for {item}?"),
    "quiz_progress": ("第 {i} 题 / 共 {n} 题", "Question {i} of {n}"),
    "quiz_passed": ("答对 {k} / {n} 题，通过！谢谢参与", "{k} of {n} right: passed. Thank you!"),
    "quiz_failed": ("答对 {k} / {n} 题，未通过。正确答案：", "{k} of {n} right: not passed. The right bins:"),
    "quiz_household": ("住户卡号（可不填）", "Household card (optional)"),
    "quiz_start": ("开始答题", "Start the quiz"),
    "quiz_close": ("结束", "Close"),
    "quiz_unavailable": ("答题暂不可用", "The quiz is not available"),
    "correct_prompt": ("投放正确", "Correct"),
    "wrong_prompt": ("投错了！", "Wrong bin!"),
    "put_into": ("放进了", "Put into"),
    "should_go": ("应投", "belongs in"),
    "more_prompts": ("+{n} 条", "+{n} more"),
    "speech_on": ("语音：开", "Voice: on"),
    "speech_off": ("语音：关", "Voice: off"),
    "speech_wrong": ("投错了。{item}应投{right}，不是{bin}。", "Wrong bin: {item} belongs in {right}."),
    "please_use": ("请投入{colour}的{bin}桶", "Please use the {colour_en} {bin} bin"),
    "recent": ("最近投放", "Recent disposals"),
    "accuracy_today": ("今日准确率", "Accuracy today"),
}


def lang() -> str:
    chosen = session.get("lang")
    return chosen if chosen in LANGS else DEFAULT


def remember_lang() -> None:
    """`?lang=en` or `?lang=zh` on any page switches and is remembered."""
    wanted = request.args.get("lang")
    if wanted in LANGS and session.get("lang") != wanted:
        session["lang"] = wanted


def t(key: str, **values) -> str:
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang() == "zh" else pair[1]
    return text.format(**values) if values else text


def js_strings(keys) -> dict:
    return {k: t(k) for k in keys}
