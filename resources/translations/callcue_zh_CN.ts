<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>CallbackDialog</name>
    <message>
        <source>Call back</source>
        <translation>预约回访</translation>
    </message>
    <message>
        <source>Callback time</source>
        <translation>回访时间</translation>
    </message>
    <message>
        <source>Call back at</source>
        <translation>回访时间</translation>
    </message>
    <message>
        <source>In 1 hour</source>
        <translation>1 小时后</translation>
    </message>
    <message>
        <source>This evening 19:00</source>
        <translation>今晚 19:00</translation>
    </message>
    <message>
        <source>Tomorrow 09:00</source>
        <translation>明天 09:00</translation>
    </message>
    <message>
        <source>That time has already passed: choose a later time.</source>
        <translation>这个时间已经过去了，请选择更晚的时间。</translation>
    </message>
</context>
<context>
    <name>CallerChooser</name>
    <message>
        <source>Who is calling?</source>
        <translation>来电人是谁？</translation>
    </message>
    <message>
        <source>This number belongs to several customers — who is calling?</source>
        <translation>这个号码属于多位客户，请确认来电人</translation>
    </message>
    <message>
        <source>Ask for the caller&apos;s name, then press their key. Outcomes are recorded for the customer you choose; none can be recorded before.</source>
        <translation>先问清来电人姓名，再按对应的键。结果记录在您选定的客户名下；选定之前不能记录结果。</translation>
    </message>
    <message>
        <source>%1 (key %2)</source>
        <translation>%1（按键 %2）</translation>
    </message>
</context>
<context>
    <name>ChannelChooser</name>
    <message>
        <source>Is this an outbound call?</source>
        <translation>这是外呼吗？</translation>
    </message>
    <message>
        <source>Enter: no, an inbound call or a lookup. Calling the customer for a campaign? Press its key: outcomes then count as that campaign&apos;s outbound call.</source>
        <translation>回车：不是，是呼入或查询。若是为某个活动给客户打电话，请按该活动的按键：结果将记为该活动的外呼。</translation>
    </message>
    <message>
        <source>Enter</source>
        <translation>回车</translation>
    </message>
    <message>
        <source>Inbound call or lookup</source>
        <translation>呼入或查询</translation>
    </message>
    <message>
        <source>%1 (key %2)</source>
        <translation>%1（按键 %2）</translation>
    </message>
    <message>
        <source>Outbound call: %1</source>
        <translation>外呼：%1</translation>
    </message>
    <message>
        <source>Wave %1 of %2</source>
        <translation>第 %1/%2 波次</translation>
    </message>
    <message>
        <source>calling hours %1</source>
        <translation>呼叫时段 %1</translation>
    </message>
    <message>
        <source>outside calling hours now</source>
        <translation>当前不在呼叫时段内</translation>
    </message>
</context>
<context>
    <name>IdleView</name>
    <message>
        <source>Waiting for a call. Incoming calls appear here automatically.</source>
        <translation>等待来电，来电时自动弹屏。</translation>
    </message>
    <message>
        <source>No callbacks due today</source>
        <translation>今天没有待回访</translation>
    </message>
    <message>
        <source>Callbacks today: %1 (%2 overdue)</source>
        <translation>今日待回访：%1 个（%2 个已逾期）</translation>
    </message>
    <message>
        <source>Callbacks today: %1</source>
        <translation>今日待回访：%1 个</translation>
    </message>
    <message>
        <source>Unknown caller</source>
        <translation>陌生来电</translation>
    </message>
    <message>
        <source>Customer %1</source>
        <translation>客户 %1</translation>
    </message>
    <message>
        <source>number not on this PC</source>
        <translation>本机无号码</translation>
    </message>
    <message>
        <source>last: %1</source>
        <translation>上次：%1</translation>
    </message>
    <message>
        <source>overdue</source>
        <translation>已逾期</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>打开</translation>
    </message>
    <message>
        <source>Open %1</source>
        <translation>打开 %1</translation>
    </message>
</context>
<context>
    <name>Messages</name>
    <message>
        <source>Accepted</source>
        <translation>接受</translation>
    </message>
    <message>
        <source>Declined</source>
        <translation>拒绝</translation>
    </message>
    <message>
        <source>Considering</source>
        <translation>考虑中</translation>
    </message>
    <message>
        <source>Call back</source>
        <translation>预约回访</translation>
    </message>
    <message>
        <source>Not offered</source>
        <translation>未推荐</translation>
    </message>
    <message>
        <source>Do not disturb</source>
        <translation>免打扰</translation>
    </message>
    <message>
        <source>low</source>
        <translation>低</translation>
    </message>
    <message>
        <source>medium</source>
        <translation>中</translation>
    </message>
    <message>
        <source>high</source>
        <translation>高</translation>
    </message>
    <message>
        <source>Active</source>
        <translation>正常</translation>
    </message>
    <message>
        <source>Suspended</source>
        <translation>停机</translation>
    </message>
    <message>
        <source>Suspended for arrears</source>
        <translation>欠费停机</translation>
    </message>
    <message>
        <source>Closed</source>
        <translation>销户</translation>
    </message>
    <message>
        <source>Primary card</source>
        <translation>主卡</translation>
    </message>
    <message>
        <source>Secondary card</source>
        <translation>副卡</translation>
    </message>
    <message>
        <source>Family member</source>
        <translation>家庭成员</translation>
    </message>
    <message>
        <source>Group member</source>
        <translation>集团成员</translation>
    </message>
    <message>
        <source>accepted</source>
        <translation>已接受</translation>
    </message>
    <message>
        <source>declined</source>
        <translation>已拒绝</translation>
    </message>
    <message>
        <source>considering</source>
        <translation>考虑中</translation>
    </message>
    <message>
        <source>callback agreed</source>
        <translation>约定回访</translation>
    </message>
    <message>
        <source>not offered</source>
        <translation>未推荐</translation>
    </message>
    <message>
        <source>asked not to be disturbed</source>
        <translation>要求免打扰</translation>
    </message>
    <message>
        <source>reached</source>
        <translation>已接通</translation>
    </message>
    <message>
        <source>no answer</source>
        <translation>无人接听</translation>
    </message>
    <message>
        <source>busy</source>
        <translation>占线</translation>
    </message>
    <message>
        <source>voicemail</source>
        <translation>语音信箱</translation>
    </message>
    <message>
        <source>refused the call</source>
        <translation>拒接</translation>
    </message>
    <message>
        <source>resolved</source>
        <translation>已解决</translation>
    </message>
    <message>
        <source>unresolved</source>
        <translation>未解决</translation>
    </message>
    <message>
        <source>transferred to an agent</source>
        <translation>转人工</translation>
    </message>
    <message>
        <source>hung up</source>
        <translation>挂机</translation>
    </message>
    <message>
        <source>delivered</source>
        <translation>已送达</translation>
    </message>
    <message>
        <source>opened</source>
        <translation>已打开</translation>
    </message>
    <message>
        <source>Standard</source>
        <translation>普通</translation>
    </message>
    <message>
        <source>Silver</source>
        <translation>银卡</translation>
    </message>
    <message>
        <source>Gold</source>
        <translation>金卡</translation>
    </message>
    <message>
        <source>Diamond</source>
        <translation>钻石</translation>
    </message>
    <message>
        <source>Cannot reach the analytics server. Check the network; outcomes are kept on this PC and sent later.</source>
        <translation>无法连接经营分析服务器，请检查网络；营销结果已保存在本机，稍后自动上传。</translation>
    </message>
    <message>
        <source>The analytics server is too slow to answer. Outcomes are kept and sent later.</source>
        <translation>经营分析服务器响应超时；营销结果已保存，稍后上传。</translation>
    </message>
    <message>
        <source>The analytics server had an internal error. Try again; tell IT if it repeats.</source>
        <translation>经营分析服务器内部错误，请重试；反复出现请联系 IT。</translation>
    </message>
    <message>
        <source>The analytics server sent data this panel cannot read. Tell IT.</source>
        <translation>服务器返回的数据无法识别，请联系 IT。</translation>
    </message>
    <message>
        <source>The analytics server&apos;s answer was too large and was refused. Outcomes are kept and sent later; tell IT.</source>
        <translation>服务器返回的数据过大，已拒绝接收；营销结果已保存，稍后上传。请联系 IT。</translation>
    </message>
    <message>
        <source>The analytics server asks to wait: you opened many customers in a short time. Try again in a minute; outcomes are kept.</source>
        <translation>分析服务器要求稍候：您在短时间内打开了很多客户。请一分钟后再试；已记录的结果都会保留。</translation>
    </message>
    <message>
        <source>Your sign-in has expired or was revoked. Sign in again; nothing is lost.</source>
        <translation>登录已过期或被撤销，请重新登录；数据不会丢失。</translation>
    </message>
    <message>
        <source>The server URL must start with http:// or https://, e.g. https://analytics.example.com.</source>
        <translation>服务器地址须以 http:// 或 https:// 开头，例如 https://analytics.example.com。</translation>
    </message>
    <message>
        <source>Enter your agent ID (1 to 64 characters).</source>
        <translation>请输入坐席工号（1 到 64 个字符）。</translation>
    </message>
    <message>
        <source>Paste the token your team lead gave you.</source>
        <translation>请粘贴组长给您的令牌。</translation>
    </message>
    <message>
        <source>This token belongs to another agent ID. Check the agent ID, or ask your team lead for your own token.</source>
        <translation>此令牌属于另一个坐席工号。请检查工号，或向组长索取您自己的令牌。</translation>
    </message>
    <message>
        <source>The server did not accept this token. Check that it is complete and meant for this agent ID and server, or ask your team lead for a new one.</source>
        <translation>服务器不接受此令牌。请检查令牌是否完整、是否属于此坐席工号和服务器，或向组长索取新令牌。</translation>
    </message>
    <message>
        <source>No customer has this number. Search by name or customer ID.</source>
        <translation>该号码未匹配到客户，请按姓名或客户编号查询。</translation>
    </message>
    <message>
        <source>Several customers share this number: ask who is calling and choose before recording an outcome.</source>
        <translation>多位客户共用这个号码：请先确认来电人并选定，再记录结果。</translation>
    </message>
    <message>
        <source>The disk is full: outcomes cannot be saved. Free space or call IT now.</source>
        <translation>磁盘已满，营销结果无法保存，请清理空间或立即联系 IT。</translation>
    </message>
    <message>
        <source>The data folder is read-only: outcomes cannot be saved. Call IT.</source>
        <translation>数据目录只读，营销结果无法保存，请联系 IT。</translation>
    </message>
    <message>
        <source>The local data file is damaged: outcomes may not be saved. Restart CallCue: it sets the file aside, starts a new one and says how to rescue what it holds.</source>
        <translation>本地数据文件已损坏：结果可能无法保存。请重启 CallCue：它会另存损坏的文件、新建文件，并说明如何找回其中的结果。</translation>
    </message>
    <message>
        <source>The configuration file is invalid.</source>
        <translation>配置文件有误。</translation>
    </message>
    <message>
        <source>That input is not valid.</source>
        <translation>输入无效。</translation>
    </message>
    <message>
        <source>The server&apos;s security certificate is not trusted. Ask IT for the right CA bundle; outcomes are kept and sent later.</source>
        <translation>服务器的安全证书不受信任。请向 IT 索取正确的 CA 证书包；结果已保存在本机，稍后发送。</translation>
    </message>
    <message>
        <source>The local data file cannot be used right now. Tell IT.</source>
        <translation>本机数据文件暂时无法使用。请联系 IT。</translation>
    </message>
    <message>
        <source>This computer has no password store to keep your sign-in. Tell IT.</source>
        <translation>这台电脑没有可保存登录信息的密码库。请联系 IT。</translation>
    </message>
    <message>
        <source>This customer is no longer held for you (the result was recorded, the customer was skipped, or the hold expired). Take the next customer.</source>
        <translation>该客户已不再为您保留（已记录结果、已跳过或保留已过期）。请领取下一位客户。</translation>
    </message>
    <message>
        <source>The call could not be placed through the softphone. Dial by hand, then record the call result.</source>
        <translation>无法通过软电话拨出。请手动拨号，然后记录呼叫结果。</translation>
    </message>
    <message>
        <source>That campaign has no outbound calls running for you now. Close the tab and open the customer again as an inbound call or a lookup.</source>
        <translation>该活动当前没有分配给您的外呼。请关闭此标签页，按呼入或查询重新打开该客户。</translation>
    </message>
    <message>
        <source>This customer is not on that campaign&apos;s list. Close the tab and open them again as an inbound call or a lookup.</source>
        <translation>该客户不在该活动的名单中。请关闭此标签页，按呼入或查询重新打开。</translation>
    </message>
    <message>
        <source>The analytics server refused this outbound request. Take the next customer.</source>
        <translation>分析服务器拒绝了这次外呼请求。请领取下一位客户。</translation>
    </message>
    <message>
        <source>Time to call back %1</source>
        <translation>该给 %1 回电了</translation>
    </message>
    <message>
        <source>%1 opens the customer</source>
        <translation>按 %1 打开该客户</translation>
    </message>
    <message>
        <source>Wrap-up: record an outcome for %1</source>
        <translation>话后处理：请为 %1 记录营销结果</translation>
    </message>
    <message>
        <source>at least %1</source>
        <translation>至少 %1</translation>
    </message>
    <message>
        <source>%1 outcome(s) saved while the data folder was unavailable were moved back and will be sent.</source>
        <translation>数据文件夹不可用期间保存的 %1 条结果已移回，将会发送。</translation>
    </message>
    <message>
        <source>%1 outcome(s) saved while the data folder was unavailable were moved back.</source>
        <translation>数据文件夹不可用期间保存的 %1 条结果已移回。</translation>
    </message>
    <message>
        <source>%1 outbound call result(s) saved while the data folder was unavailable were moved back and will be sent.</source>
        <translation>数据文件夹不可用期间保存的 %1 条外呼呼叫结果已移回，将自动发送。</translation>
    </message>
    <message>
        <source>The local data file was found empty (0 bytes). It was set aside as %1 and a new one started.</source>
        <translation>本地数据文件为空（0 字节），已另存为 %1 并新建了文件。</translation>
    </message>
    <message>
        <source>The local data file was damaged. It was set aside as %1 and a new one started.</source>
        <translation>本地数据文件已损坏，已另存为 %1 并新建了文件。</translation>
    </message>
    <message>
        <source>It holds %1 outcome(s) and %2 outbound call result(s) not yet sent to the server. To send them, run: callcue store rescue &quot;%3&quot; (or tell IT).</source>
        <translation>其中有 %1 条结果和 %2 条外呼呼叫结果尚未发送到服务器。要发送它们，请运行：callcue store rescue &quot;%3&quot;（或联系 IT）。</translation>
    </message>
    <message>
        <source>It holds %1 outcome(s) not yet sent to the server. To send them, run: callcue store rescue &quot;%2&quot; (or tell IT).</source>
        <translation>其中有 %1 条结果尚未发送到服务器。要发送这些结果，请运行：callcue store rescue &quot;%2&quot;（或联系 IT）。</translation>
    </message>
    <message>
        <source>It holds %1 outbound call result(s) (no answer, busy …) not yet sent to the server. To send them, run: callcue store rescue &quot;%2&quot; (or tell IT).</source>
        <translation>其中有 %1 条外呼呼叫结果（无人接听、占线等）尚未发送到服务器。要发送它们，请运行：callcue store rescue &quot;%2&quot;（或联系 IT）。</translation>
    </message>
    <message>
        <source>Nothing could be read back from it: if outcomes were waiting to be sent, tell IT.</source>
        <translation>无法从中读回任何内容：如果之前有待发送的结果，请联系 IT。</translation>
    </message>
    <message>
        <source>No outcome or call result waiting to be sent was found in it.</source>
        <translation>其中没有发现待发送的结果或呼叫结果。</translation>
    </message>
    <message>
        <source>%1 recent outcome(s) in it could not be read: tell IT.</source>
        <translation>其中有 %1 条近期结果无法读取：请联系 IT。</translation>
    </message>
    <message>
        <source>it is read-only</source>
        <translation>文件夹为只读</translation>
    </message>
    <message>
        <source>the disk is full</source>
        <translation>磁盘已满</translation>
    </message>
    <message>
        <source>its data file is damaged and cannot be moved aside</source>
        <translation>数据文件已损坏且无法另存</translation>
    </message>
    <message>
        <source>its data file is locked or cannot be opened</source>
        <translation>数据文件被锁定或无法打开</translation>
    </message>
    <message>
        <source>CallCue cannot use its data folder %1 (%2). Outcomes are saved in %3 for now and moved back automatically once the folder can be used again.</source>
        <translation>CallCue 无法使用数据文件夹 %1（%2）。结果暂时保存在 %3，文件夹恢复可用后会自动移回。</translation>
    </message>
    <message>
        <source>That is a temporary folder: tell IT before restarting the computer.</source>
        <translation>这是一个临时文件夹：重启电脑前请先联系 IT。</translation>
    </message>
</context>
<context>
    <name>NotOfferedDialog</name>
    <message>
        <source>Not offered</source>
        <translation>未推荐</translation>
    </message>
    <message>
        <source>Why was the offer not made?</source>
        <translation>为什么没有推荐？</translation>
    </message>
    <message>
        <source>Reason</source>
        <translation>原因</translation>
    </message>
    <message>
        <source>Customer was upset</source>
        <translation>客户情绪不佳</translation>
    </message>
    <message>
        <source>No time on this call</source>
        <translation>本次通话时间不够</translation>
    </message>
    <message>
        <source>Customer not the account holder</source>
        <translation>来电人非机主</translation>
    </message>
    <message>
        <source>Complaint handled first</source>
        <translation>先处理了投诉</translation>
    </message>
</context>
<context>
    <name>OfferCard</name>
    <message>
        <source>%1¥%2/mo</source>
        <translation>%1%2元/月</translation>
    </message>
    <message>
        <source>Do not offer: %1</source>
        <translation>不要推荐：%1</translation>
    </message>
    <message>
        <source>Why: %1</source>
        <translation>推荐理由：%1</translation>
    </message>
    <message>
        <source>Say: %1</source>
        <translation>开场：%1</translation>
    </message>
    <message>
        <source>Show script</source>
        <translation>查看话术</translation>
    </message>
    <message>
        <source>Show script for %1</source>
        <translation>查看“%1”的话术</translation>
    </message>
    <message>
        <source>Offer %1: %2</source>
        <translation>推荐 %1：%2</translation>
    </message>
    <message>
        <source>Hide script</source>
        <translation>收起话术</translation>
    </message>
</context>
<context>
    <name>OutboundController</name>
    <message>
        <source>Calling: the host application dials…</source>
        <translation>正在呼叫：由宿主应用拨号…</translation>
    </message>
    <message>
        <source>Skipped: the customer comes back to the worklist later.</source>
        <translation>已跳过：该客户稍后会回到外呼名单。</translation>
    </message>
    <message>
        <source>Saved: %1</source>
        <translation>已保存：%1</translation>
    </message>
    <message>
        <source>✗ Not undone: %1</source>
        <translation>✗ 未撤销：%1</translation>
    </message>
    <message>
        <source>↶ Outcome undone: it no longer counts</source>
        <translation>↶ 结果已撤销：不再计入统计</translation>
    </message>
    <message>
        <source>The call result reached the server.</source>
        <translation>通话结果已送达服务器。</translation>
    </message>
    <message>
        <source>The server refused it again.</source>
        <translation>服务器再次拒绝了该结果。</translation>
    </message>
    <message>
        <source>Set aside: the call result stays on this PC and is not sent.</source>
        <translation>已搁置：该通话结果保留在本机，不再发送。</translation>
    </message>
</context>
<context>
    <name>OutboundMessages</name>
    <message>
        <source>You are not signed in: sign in to work the worklist.</source>
        <translation>您尚未登录：请登录后再处理外呼名单。</translation>
    </message>
    <message>
        <source>An inbound call is up: the outbound preview waits.</source>
        <translation>有来电正在处理：外呼预览暂停。</translation>
    </message>
    <message>
        <source>An inbound call is up: finish it before dialing.</source>
        <translation>有来电正在处理：请先处理完再拨打。</translation>
    </message>
    <message>
        <source>Only a previewed customer who was not called can be skipped.</source>
        <translation>只能跳过尚未拨打的预览客户。</translation>
    </message>
    <message>
        <source>Nobody is previewed to dial.</source>
        <translation>当前没有可拨打的预览客户。</translation>
    </message>
    <message>
        <source>This customer has no number to dial.</source>
        <translation>该客户没有可拨打的号码。</translation>
    </message>
    <message>
        <source>There is no outbound call to record a result for.</source>
        <translation>没有可记录结果的外呼通话。</translation>
    </message>
    <message>
        <source>Offer outcomes follow a connected call&apos;s result: record the call result first.</source>
        <translation>接通的通话记录结果后才能记录营销结果：请先记录通话结果。</translation>
    </message>
    <message>
        <source>The call has no result yet: record how it went first.</source>
        <translation>该通话还没有结果：请先记录通话情况。</translation>
    </message>
    <message>
        <source>No application that dials for CallCue is connected (its softphone link is not running). Start it and press Call again, or dial by hand; the customer stays previewed and held for you.</source>
        <translation>没有为坐席助手拨号的应用在线（其软电话连接未运行）。请启动它后再按“拨打”，或手动拨号；该客户仍在预览中并为您保留。</translation>
    </message>
    <message>
        <source>This outbound command is unknown.</source>
        <translation>未知的外呼指令。</translation>
    </message>
    <message>
        <source>That call result is no longer waiting to be retried or dismissed.</source>
        <translation>该通话结果已不在等待重发或搁置。</translation>
    </message>
    <message>
        <source>Done.</source>
        <translation>已完成。</translation>
    </message>
    <message>
        <source>%1 (phase: %2)</source>
        <translation>%1（当前阶段：%2）</translation>
    </message>
    <message>
        <source>the customer was no longer held for you (skipped, or the hold ended and a colleague took them)</source>
        <translation>该客户已不再为您保留（已跳过，或保留到期后被同事接手）</translation>
    </message>
    <message>
        <source>the server does not know this hold for your account (signed in as another agent, or the server was reset)</source>
        <translation>服务器上找不到您账号的这次保留（登录的是其他坐席，或服务器已重置）</translation>
    </message>
    <message>
        <source>the server already has another result for this call</source>
        <translation>服务器已有该通话的另一个结果</translation>
    </message>
    <message>
        <source>the server has a different result under this result&apos;s id (Send again uses a new one)</source>
        <translation>服务器在该结果的编号下已有不同的结果（“重新发送”会使用新编号）</translation>
    </message>
    <message>
        <source>the campaign no longer exists on the server</source>
        <translation>服务器上已没有该活动</translation>
    </message>
    <message>
        <source>the customer no longer exists on the server</source>
        <translation>服务器上已没有该客户</translation>
    </message>
    <message>
        <source>the server found the result invalid (for example the call time is too far from the server&apos;s clock)</source>
        <translation>服务器认为该结果无效（例如通话时间与服务器时钟相差太远）</translation>
    </message>
</context>
<context>
    <name>OutboundView</name>
    <message>
        <source>Outbound status</source>
        <translation>外呼状态</translation>
    </message>
    <message>
        <source>Campaign and wave</source>
        <translation>活动与波次</translation>
    </message>
    <message>
        <source>Why this customer</source>
        <translation>为什么是这位客户</translation>
    </message>
    <message>
        <source>Script</source>
        <translation>话术</translation>
    </message>
    <message>
        <source>Next customer</source>
        <translation>下一位客户</translation>
    </message>
    <message>
        <source>Call</source>
        <translation>拨打</translation>
    </message>
    <message>
        <source>Skip…</source>
        <translation>跳过…</translation>
    </message>
    <message>
        <source>Done: next customer</source>
        <translation>完成：下一位客户</translation>
    </message>
    <message>
        <source>Call result refused by the server</source>
        <translation>被服务器拒绝的通话结果</translation>
    </message>
    <message>
        <source>Send again</source>
        <translation>重新发送</translation>
    </message>
    <message>
        <source>Set aside</source>
        <translation>搁置</translation>
    </message>
    <message>
        <source>Last action</source>
        <translation>最近操作</translation>
    </message>
    <message>
        <source>✓ Recorded “%1” · %2 — Ctrl+Z to undo</source>
        <translation>✓ 已记录“%1” · %2 — 按 Ctrl+Z 撤销</translation>
    </message>
    <message>
        <source>✓ Recorded “%1” — Ctrl+Z to undo</source>
        <translation>✓ 已记录“%1” — 按 Ctrl+Z 撤销</translation>
    </message>
    <message>
        <source>%1 · wave %2 of %3 · call attempt %4</source>
        <translation>%1 · 第 %2/%3 波次 · 第 %4 次呼叫</translation>
    </message>
    <message>
        <source>priority %1</source>
        <translation>优先级 %1</translation>
    </message>
    <message>
        <source>expected ¥%1 × acceptance %2%</source>
        <translation>预期 ¥%1 × 接受率 %2%</translation>
    </message>
    <message>
        <source>Why this customer: %1</source>
        <translation>为什么是这位客户：%1</translation>
    </message>
    <message>
        <source>Script for %1: %2</source>
        <translation>“%1”话术：%2</translation>
    </message>
    <message>
        <source>The server refused the call result “%1” for customer %2: %3.</source>
        <translation>服务器拒绝了客户 %2 的通话结果“%1”：%3。</translation>
    </message>
    <message>
        <source>Send again once the cause is fixed; Set aside keeps it on this PC only.</source>
        <translation>原因解决后请重新发送；“搁置”则只在本机保留。</translation>
    </message>
    <message>
        <source>%1 more refused call result(s) after this one.</source>
        <translation>此外还有 %1 条被拒绝的通话结果。</translation>
    </message>
    <message>
        <source>An inbound call is up: the outbound preview waits (the customer stays held for you).</source>
        <translation>有来电正在处理：外呼预览暂停（该客户仍为您保留）。</translation>
    </message>
    <message>
        <source>Outbound mode: press Next customer to preview the worklist&apos;s next customer.</source>
        <translation>外呼模式：按“下一位客户”预览外呼名单中的下一位客户。</translation>
    </message>
    <message>
        <source>Preview: read why this customer and the script, then call or skip.</source>
        <translation>预览：先阅读选择该客户的原因和话术，然后拨打或跳过。</translation>
    </message>
    <message>
        <source>Calling…</source>
        <translation>正在呼叫…</translation>
    </message>
    <message>
        <source>Connected.</source>
        <translation>已接通。</translation>
    </message>
    <message>
        <source>The call ended: record how it went.</source>
        <translation>通话已结束：请记录呼叫结果。</translation>
    </message>
    <message>
        <source>The softphone says: %1</source>
        <translation>软电话提示：%1</translation>
    </message>
    <message>
        <source>Connected call: record the offer outcome, then Done.</source>
        <translation>已接通：记录推荐结果，然后按“完成”。</translation>
    </message>
    <message>
        <source>Call result saved. Done shows the next customer.</source>
        <translation>呼叫结果已保存。按“完成”显示下一位客户。</translation>
    </message>
    <message>
        <source>Next customer ready.</source>
        <translation>下一位客户已准备好。</translation>
    </message>
    <message>
        <source>%1 call result(s) saved on this PC, not yet on the server: sent automatically.</source>
        <translation>%1 条呼叫结果已保存在本机，尚未送达服务器：将自动发送。</translation>
    </message>
</context>
<context>
    <name>OutboundWindow</name>
    <message>
        <source>CallCue — outbound calls</source>
        <translation>CallCue — 外呼</translation>
    </message>
</context>
<context>
    <name>OutcomeBar</name>
    <message>
        <source>Record outcome</source>
        <translation>记录营销结果</translation>
    </message>
    <message>
        <source>Shortcut %1</source>
        <translation>快捷键 %1</translation>
    </message>
    <message>
        <source>Note (optional)</source>
        <translation>备注（可选）</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>No customer record for %1: Not offered, Call back or Do not disturb (for this number) can still be recorded.</source>
        <translation>%1 没有客户资料：仍可记录未推荐、预约回访或免打扰（针对该号码）。</translation>
    </message>
    <message>
        <source>Choose who is calling first: outcomes are recorded for that customer.</source>
        <translation>请先确认来电人：结果将记录在该客户名下。</translation>
    </message>
    <message>
        <source>Outcome buttons work once a customer is on screen.</source>
        <translation>有客户弹屏后才能记录营销结果。</translation>
    </message>
    <message>
        <source>Outcome for: %1</source>
        <translation>记录结果：%1</translation>
    </message>
    <message>
        <source>No offer selected: only Not offered, Call back or DND apply.</source>
        <translation>未选择推荐项：只能记录未推荐、预约回访或免打扰。</translation>
    </message>
    <message>
        <source>Press again to confirm
Stops all marketing</source>
        <translation>再按一次确认
将停止所有营销</translation>
    </message>
    <message>
        <source>Do not disturb stops all marketing to %1, whoever holds this number. Press it again to confirm.</source>
        <translation>免打扰将停止对 %1 的所有营销（无论该号码属于哪位客户）。再按一次确认。</translation>
    </message>
    <message>
        <source>Do not disturb stops all marketing to this customer. Press it again to confirm.</source>
        <translation>免打扰会停止对该客户的所有营销。再按一次确认。</translation>
    </message>
</context>
<context>
    <name>PanelWidget</name>
    <message>
        <source>Switch language</source>
        <translation>切换语言</translation>
    </message>
    <message>
        <source>Calls</source>
        <translation>通话</translation>
    </message>
    <message>
        <source>Open calls</source>
        <translation>当前通话</translation>
    </message>
    <message>
        <source>Last action</source>
        <translation>最近操作</translation>
    </message>
    <message>
        <source>Call sources</source>
        <translation>来电来源</translation>
    </message>
    <message>
        <source>⇄ to %1</source>
        <translation>⇄ 转给 %1</translation>
    </message>
    <message>
        <source>⇄ transferred to you</source>
        <translation>⇄ 已转给您</translation>
    </message>
    <message>
        <source>⇄ Transferred: the customer changed from %1 to %2. Check who you are talking to.</source>
        <translation>⇄ 已转接：客户由 %1 变为 %2。请确认您正在与谁通话。</translation>
    </message>
    <message>
        <source>⇄ Transferred by %3: the customer changed from %1 to %2. Check who you are talking to.</source>
        <translation>⇄ 由 %3 转接：客户由 %1 变为 %2。请确认您正在与谁通话。</translation>
    </message>
    <message>
        <source>⇄ from %1 via %2</source>
        <translation>⇄ 来自 %1，经 %2</translation>
    </message>
    <message>
        <source>⇄ from %1</source>
        <translation>⇄ 来自 %1</translation>
    </message>
    <message>
        <source>⇄ transferred to you via %1</source>
        <translation>⇄ 经 %1 转给您</translation>
    </message>
    <message>
        <source>wrap-up %1</source>
        <translation>话后处理 %1</translation>
    </message>
    <message>
        <source>ringing</source>
        <translation>振铃中</translation>
    </message>
    <message>
        <source>talking</source>
        <translation>通话中</translation>
    </message>
    <message>
        <source>✓ outcome recorded</source>
        <translation>✓ 已记录结果</translation>
    </message>
    <message>
        <source>↗ outbound %1</source>
        <translation>↗ 外呼 %1</translation>
    </message>
    <message>
        <source>Close call %1</source>
        <translation>关闭通话 %1</translation>
    </message>
    <message>
        <source>Close call</source>
        <translation>关闭通话</translation>
    </message>
    <message>
        <source>Close the ringing call %1?</source>
        <translation>关闭正在振铃的通话 %1 吗？</translation>
    </message>
    <message>
        <source>Close %1 without recording an outcome?</source>
        <translation>不记录结果就关闭 %1 吗？</translation>
    </message>
    <message>
        <source>Keep it open</source>
        <translation>保留</translation>
    </message>
    <message>
        <source>Saving “%1”…</source>
        <translation>正在保存“%1”…</translation>
    </message>
    <message>
        <source>✓ Saved “%1” for %2 on this PC</source>
        <translation>✓ 已在本机为 %2 保存“%1”</translation>
    </message>
    <message>
        <source>✓ Saved “%1” on this PC</source>
        <translation>✓ 已在本机保存“%1”</translation>
    </message>
    <message>
        <source>✓ Recorded “%1” · %2 — Ctrl+Z to undo</source>
        <translation>✓ 已记录“%1” · %2 — 按 Ctrl+Z 撤销</translation>
    </message>
    <message>
        <source>✓ Recorded “%1” — Ctrl+Z to undo</source>
        <translation>✓ 已记录“%1” — 按 Ctrl+Z 撤销</translation>
    </message>
    <message>
        <source>↶ Outcome undone: it no longer counts</source>
        <translation>↶ 结果已撤销：不再计入统计</translation>
    </message>
    <message>
        <source>✗ Not undone: %1</source>
        <translation>✗ 未撤销：%1</translation>
    </message>
    <message>
        <source>✗ Not saved: %1</source>
        <translation>✗ 未保存：%1</translation>
    </message>
    <message>
        <source>retrying in %1 s</source>
        <translation>%1 秒后重试</translation>
    </message>
    <message>
        <source>⚠ Not receiving calls from %1. Its calls will not pop: search for the caller.</source>
        <translation>⚠ 未能接收来自 %1 的来电，这些来电不会自动弹屏：请手动搜索来电客户。</translation>
    </message>
    <message>
        <source>Connecting to %1…</source>
        <translation>正在连接 %1…</translation>
    </message>
    <message>
        <source>Calls from %1</source>
        <translation>来电来源：%1</translation>
    </message>
    <message>
        <source>Outcomes waiting</source>
        <translation>待处理的结果</translation>
    </message>
    <message>
        <source>Nothing is waiting to be sent and nothing needs attention.</source>
        <translation>没有待发送的结果，也没有需要处理的结果。</translation>
    </message>
    <message>
        <source>%1 refused by the server: kept on this PC; tell your team lead.</source>
        <translation>%1 条被服务器拒绝：已保留在本机，请告知班组长。</translation>
    </message>
    <message>
        <source>%1 waiting to be sent: they go as soon as the server answers.</source>
        <translation>%1 条等待发送：服务器恢复响应后立即发送。</translation>
    </message>
    <message>
        <source>waiting to be sent</source>
        <translation>等待发送</translation>
    </message>
    <message>
        <source>just now</source>
        <translation>刚刚</translation>
    </message>
    <message>
        <source>%1 min ago</source>
        <translation>%1 分钟前</translation>
    </message>
    <message>
        <source>%1 h ago</source>
        <translation>%1 小时前</translation>
    </message>
    <message>
        <source>%1 days ago</source>
        <translation>%1 天前</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>PanelWindow</name>
    <message>
        <source>CallCue agent assistant</source>
        <translation>CallCue 坐席助手</translation>
    </message>
</context>
<context>
    <name>PopView</name>
    <message>
        <source>Data status</source>
        <translation>数据状态</translation>
    </message>
    <message>
        <source>Next best offers</source>
        <translation>推荐业务</translation>
    </message>
    <message>
        <source>Loading customer data…</source>
        <translation>正在加载客户数据…</translation>
    </message>
    <message>
        <source>Live data · %1</source>
        <translation>实时数据 · %1</translation>
    </message>
    <message>
        <source>Unknown caller: no customer has this number</source>
        <translation>未知来电：该号码未匹配到客户</translation>
    </message>
    <message>
        <source>Server unreachable — showing saved data from %1 (%2 min old)</source>
        <translation>服务器不可用 — 显示 %1 保存的数据（%2 分钟前）</translation>
    </message>
    <message>
        <source>Something went wrong.</source>
        <translation>出现问题。</translation>
    </message>
    <message>
        <source>Showing saved data from %1 · refreshing…</source>
        <translation>显示 %1 保存的数据 · 正在刷新…</translation>
    </message>
    <message>
        <source>Customer name</source>
        <translation>客户姓名</translation>
    </message>
    <message>
        <source>Value tier</source>
        <translation>客户等级</translation>
    </message>
    <message>
        <source>%1 months with us</source>
        <translation>在网 %1 个月</translation>
    </message>
    <message>
        <source>New or unregistered caller</source>
        <translation>新客户或未登记号码</translation>
    </message>
    <message>
        <source>Greet the caller, ask for their name and ID number, then search above by name or customer ID. Do not pitch offers until the customer is identified.</source>
        <translation>先问候来电人，核实姓名和证件号，再在上方按姓名或客户编号查找。确认身份前不要推荐业务。</translation>
    </message>
    <message>
        <source>Complaint-sensitive</source>
        <translation>投诉敏感</translation>
    </message>
    <message>
        <source>Price-sensitive</source>
        <translation>话费敏感</translation>
    </message>
    <message>
        <source>No offer to pitch on this call — see the reasons below.</source>
        <translation>本次通话没有可推荐的业务 — 原因见下方。</translation>
    </message>
    <message>
        <source>Hide %1 suppressed offers</source>
        <translation>收起 %1 个不可推荐项</translation>
    </message>
    <message>
        <source>Show %1 suppressed offers (why not)</source>
        <translation>查看 %1 个不可推荐项（原因）</translation>
    </message>
    <message>
        <source>Suppressed offers</source>
        <translation>不可推荐项</translation>
    </message>
    <message>
        <source>Star level</source>
        <translation>星级</translation>
    </message>
    <message>
        <source>Sensitivity</source>
        <translation>敏感度</translation>
    </message>
    <message>
        <source>Outbound call</source>
        <translation>外呼</translation>
    </message>
    <message>
        <source>Service status</source>
        <translation>服务状态</translation>
    </message>
    <message>
        <source>Try again (F5)</source>
        <translation>重试 (F5)</translation>
    </message>
    <message>
        <source>Fetch this customer&apos;s data again</source>
        <translation>重新获取该客户的资料</translation>
    </message>
    <message>
        <source>Choose again</source>
        <translation>重新选择</translation>
    </message>
    <message>
        <source>Choose another customer sharing this number</source>
        <translation>改选共用此号码的其他客户</translation>
    </message>
    <message>
        <source>Repeat caller</source>
        <translation>重复来电</translation>
    </message>
    <message>
        <source>Recent contacts</source>
        <translation>最近接触</translation>
    </message>
    <message>
        <source>More offers</source>
        <translation>更多推荐</translation>
    </message>
    <message>
        <source>Contact guidance</source>
        <translation>接触指引</translation>
    </message>
    <message>
        <source>Asking the server…</source>
        <translation>正在询问服务器…</translation>
    </message>
    <message>
        <source>Shared number: you confirmed this caller among %1 customers.</source>
        <translation>共用号码：您已在 %1 位客户中确认了来电人。</translation>
    </message>
    <message>
        <source>Shared number: %1 customers — confirm who is calling</source>
        <translation>共用号码：%1 位客户——请确认来电人</translation>
    </message>
    <message>
        <source>Showing saved data from %1 (%2 min old)</source>
        <translation>显示 %1 保存的数据（%2 分钟前）</translation>
    </message>
    <message>
        <source>↗ Outbound call for %1</source>
        <translation>↗ 外呼：%1</translation>
    </message>
    <message>
        <source>%1-star</source>
        <translation>%1星</translation>
    </message>
    <message>
        <source>1 month with us</source>
        <translation>在网 1 个月</translation>
    </message>
    <message>
        <source>Account manager %1</source>
        <translation>客户经理 %1</translation>
    </message>
    <message>
        <source>No longer in the operator&apos;s data</source>
        <translation>已不在运营商资料中</translation>
    </message>
    <message>
        <source>Balance %1</source>
        <translation>余额 %1</translation>
    </message>
    <message>
        <source>Arrears %1</source>
        <translation>欠费 %1</translation>
    </message>
    <message>
        <source>Contract ended %1</source>
        <translation>合约已于 %1 到期</translation>
    </message>
    <message>
        <source>Contract ends in %1 days</source>
        <translation>合约 %1 天后到期</translation>
    </message>
    <message>
        <source>Contract until %1</source>
        <translation>合约至 %1</translation>
    </message>
    <message>
        <source>open</source>
        <translation>未结</translation>
    </message>
    <message>
        <source>resolved</source>
        <translation>已解决</translation>
    </message>
    <message>
        <source>source: operator model %1</source>
        <translation>来源：运营商模型 %1</translation>
    </message>
    <message>
        <source>source: operator model</source>
        <translation>来源：运营商模型</translation>
    </message>
    <message>
        <source>source: customer data</source>
        <translation>来源：客户资料</translation>
    </message>
    <message>
        <source>source: rules</source>
        <translation>来源：规则推断</translation>
    </message>
    <message>
        <source>Repeat caller: %1 calls in 7 days — ask what is still unresolved</source>
        <translation>重复来电：7 天内来电 %1 次——先问清还有什么没解决</translation>
    </message>
    <message>
        <source>Repeat caller: called again within 7 days — ask what is still unresolved</source>
        <translation>重复来电：7 天内再次来电——先问清还有什么没解决</translation>
    </message>
    <message>
        <source>%1 %2: %3</source>
        <translation>%1 %2：%3</translation>
    </message>
    <message>
        <source>%1 %2</source>
        <translation>%1 %2</translation>
    </message>
    <message>
        <source>%1 (%2)</source>
        <translation>%1（%2）</translation>
    </message>
    <message>
        <source>marketing</source>
        <translation>营销</translation>
    </message>
    <message>
        <source>just now</source>
        <translation>刚刚</translation>
    </message>
    <message>
        <source>%1 min ago</source>
        <translation>%1 分钟前</translation>
    </message>
    <message>
        <source>%1 h ago</source>
        <translation>%1 小时前</translation>
    </message>
    <message>
        <source>%1 days ago</source>
        <translation>%1 天前</translation>
    </message>
    <message>
        <source>Show fewer offers</source>
        <translation>少显示几个推荐</translation>
    </message>
    <message>
        <source>Show %1 more offers</source>
        <translation>再显示 %1 个推荐</translation>
    </message>
    <message>
        <source>Campaign</source>
        <translation>营销活动</translation>
    </message>
    <message>
        <source>Wave</source>
        <translation>波次</translation>
    </message>
    <message>
        <source>%1 of %2 · %3</source>
        <translation>第 %1 / %2 波 · %3</translation>
    </message>
    <message>
        <source>Why on the list</source>
        <translation>入选原因</translation>
    </message>
    <message>
        <source>Contacts</source>
        <translation>接触频次</translation>
    </message>
    <message>
        <source>%1 of %2 in %3 days</source>
        <translation>%3 天内 %1 / %2 次</translation>
    </message>
    <message>
        <source>%1 of %2 in %3 days (all campaigns, %4)</source>
        <translation>%3 天内 %1/%2 次（所有活动，%4）</translation>
    </message>
    <message>
        <source>limit reached, next contact %1</source>
        <translation>已达上限，%1 后可再联系</translation>
    </message>
    <message>
        <source>limit reached</source>
        <translation>已达上限</translation>
    </message>
    <message>
        <source>Customer limit</source>
        <translation>客户接触上限</translation>
    </message>
    <message>
        <source>Prefers</source>
        <translation>偏好渠道</translation>
    </message>
    <message>
        <source>Do not disturb — no marketing</source>
        <translation>免打扰 — 禁止营销</translation>
    </message>
    <message>
        <source>No</source>
        <translation>否</translation>
    </message>
    <message>
        <source>DND</source>
        <translation>免打扰</translation>
    </message>
    <message>
        <source>Next contact</source>
        <translation>下次可接触</translation>
    </message>
    <message>
        <source>Already has</source>
        <translation>已订业务</translation>
    </message>
    <message>
        <source>Handset</source>
        <translation>终端</translation>
    </message>
    <message>
        <source>Customer details</source>
        <translation>客户信息</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>客户信息</translation>
    </message>
    <message>
        <source>Yes (¥%1/mo)</source>
        <translation>已开通（%1元/月）</translation>
    </message>
    <message>
        <source>Ringback tone</source>
        <translation>彩铃</translation>
    </message>
    <message>
        <source>Credit · Points</source>
        <translation>信用分 · 积分</translation>
    </message>
    <message>
        <source>Churn risk</source>
        <translation>流失风险</translation>
    </message>
    <message>
        <source>Segments</source>
        <translation>客户标签</translation>
    </message>
</context>
<context>
    <name>SearchBox</name>
    <message>
        <source>Search caller: number, name or customer ID (Ctrl+F)</source>
        <translation>查找客户：号码、姓名或客户编号（Ctrl+F）</translation>
    </message>
    <message>
        <source>Search caller</source>
        <translation>查找客户</translation>
    </message>
    <message>
        <source>Clear search</source>
        <translation>清除查询</translation>
    </message>
    <message>
        <source>Search results</source>
        <translation>查询结果</translation>
    </message>
    <message>
        <source>Searching…</source>
        <translation>查询中…</translation>
    </message>
    <message>
        <source>No customer found. Check the spelling or try the number.</source>
        <translation>未找到客户，请检查输入或改用号码查询。</translation>
    </message>
</context>
<context>
    <name>SignInDialog</name>
    <message>
        <source>Sign in to CallCue</source>
        <translation>登录 CallCue</translation>
    </message>
    <message>
        <source>Server URL</source>
        <translation>服务器地址</translation>
    </message>
    <message>
        <source>Agent ID</source>
        <translation>工号</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>令牌</translation>
    </message>
    <message>
        <source>cc_… (from your team lead)</source>
        <translation>cc_…（由班组长提供）</translation>
    </message>
    <message>
        <source>Sign in</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Checking the token with the server…</source>
        <translation>正在向服务器校验令牌…</translation>
    </message>
</context>
<context>
    <name>StatsWindow</name>
    <message>
        <source>Accepted</source>
        <translation>接受</translation>
    </message>
    <message>
        <source>Declined</source>
        <translation>拒绝</translation>
    </message>
    <message>
        <source>Considering</source>
        <translation>考虑中</translation>
    </message>
    <message>
        <source>Callback</source>
        <translation>回访</translation>
    </message>
    <message>
        <source>Not offered</source>
        <translation>未推荐</translation>
    </message>
    <message>
        <source>Do not disturb</source>
        <translation>免打扰</translation>
    </message>
    <message>
        <source>Price-sensitive customer</source>
        <translation>话费敏感客户</translation>
    </message>
    <message>
        <source>Complaint-sensitive customer</source>
        <translation>投诉敏感客户</translation>
    </message>
    <message>
        <source>Not eligible</source>
        <translation>不符合条件</translation>
    </message>
    <message>
        <source>Refused recently</source>
        <translation>近期拒绝过</translation>
    </message>
    <message>
        <source>Contact limit reached</source>
        <translation>已达联系上限</translation>
    </message>
    <message>
        <source>Wave is for another channel</source>
        <translation>本波次为其他渠道</translation>
    </message>
    <message>
        <source>No active wave</source>
        <translation>无进行中的波次</translation>
    </message>
    <message>
        <source>CallCue statistics</source>
        <translation>坐席助手 · 统计</translation>
    </message>
    <message>
        <source>Statistics</source>
        <translation>统计</translation>
    </message>
    <message>
        <source>From</source>
        <translation>从</translation>
    </message>
    <message>
        <source>to</source>
        <translation>到</translation>
    </message>
    <message>
        <source>Today</source>
        <translation>今天</translation>
    </message>
    <message>
        <source>7 days</source>
        <translation>近 7 天</translation>
    </message>
    <message>
        <source>30 days</source>
        <translation>近 30 天</translation>
    </message>
    <message>
        <source>Agent</source>
        <translation>坐席</translation>
    </message>
    <message>
        <source>All agents</source>
        <translation>全部坐席</translation>
    </message>
    <message>
        <source>All campaigns</source>
        <translation>全部活动</translation>
    </message>
    <message>
        <source>All waves</source>
        <translation>全部波次</translation>
    </message>
    <message>
        <source>Campaign</source>
        <translation>活动</translation>
    </message>
    <message>
        <source>Wave</source>
        <translation>波次</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Export CSV…</source>
        <translation>导出 CSV…</translation>
    </message>
    <message>
        <source>Export PNG…</source>
        <translation>导出 PNG…</translation>
    </message>
    <message>
        <source>Pops</source>
        <translation>弹屏</translation>
    </message>
    <message>
        <source>Outcomes</source>
        <translation>结果</translation>
    </message>
    <message>
        <source>Acceptance rate</source>
        <translation>接受率</translation>
    </message>
    <message>
        <source>Pop to outcome (median)</source>
        <translation>弹屏到结果（中位数）</translation>
    </message>
    <message>
        <source>Callbacks due</source>
        <translation>到期回访</translation>
    </message>
    <message>
        <source>Waiting to sync</source>
        <translation>待同步</translation>
    </message>
    <message>
        <source>Acceptance by offer</source>
        <translation>各推荐的接受率</translation>
    </message>
    <message>
        <source>Daily trend</source>
        <translation>每日趋势</translation>
    </message>
    <message>
        <source>Results mix by day</source>
        <translation>每日结果构成</translation>
    </message>
    <message>
        <source>No outcomes in this range</source>
        <translation>该时间范围内没有结果</translation>
    </message>
    <message>
        <source>By offer</source>
        <translation>按推荐</translation>
    </message>
    <message>
        <source>By campaign</source>
        <translation>按活动</translation>
    </message>
    <message>
        <source>By wave</source>
        <translation>按波次</translation>
    </message>
    <message>
        <source>By day</source>
        <translation>按日</translation>
    </message>
    <message>
        <source>By hour</source>
        <translation>按小时</translation>
    </message>
    <message>
        <source>By agent</source>
        <translation>按坐席</translation>
    </message>
    <message>
        <source>Suppressed offers</source>
        <translation>被抑制的推荐</translation>
    </message>
    <message>
        <source>Needs attention</source>
        <translation>需处理</translation>
    </message>
    <message>
        <source>Team lead: every agent on this workstation · %1</source>
        <translation>组长：本机全部坐席 · %1</translation>
    </message>
    <message>
        <source>Your own figures (%1) · %2</source>
        <translation>您自己的数据（%1）· %2</translation>
    </message>
    <message>
        <source>The start date is after the end date: pick a start on or before the end.</source>
        <translation>开始日期晚于结束日期：请选择不晚于结束日期的开始日期。</translation>
    </message>
    <message>
        <source>The statistics could not be read: %1</source>
        <translation>无法读取统计数据：%1</translation>
    </message>
    <message>
        <source>Showing your own figures. Team leads: sign in with a lead token to see every agent.</source>
        <translation>当前显示您自己的数据。组长请使用组长令牌登录以查看全部坐席。</translation>
    </message>
    <message>
        <source>Nothing was recorded on this workstation from %1 to %2 for this selection. Pick a wider date range, or another agent, campaign or wave.</source>
        <translation>本机在 %1 至 %2 期间没有符合所选条件的记录。请扩大日期范围，或选择其他坐席、活动或波次。</translation>
    </message>
    <message>
        <source>Wave %1</source>
        <translation>第 %1 波</translation>
    </message>
    <message>
        <source>%1 offers presented</source>
        <translation>展示推荐 %1 次</translation>
    </message>
    <message>
        <source>%1 accepted</source>
        <translation>接受 %1</translation>
    </message>
    <message>
        <source>of %1 offers answered</source>
        <translation>共 %1 次推荐有答复</translation>
    </message>
    <message>
        <source>p90 %1 · mean %2</source>
        <translation>p90 %1 · 平均 %2</translation>
    </message>
    <message>
        <source>%1 missed · %2 kept · %3 open</source>
        <translation>错过 %1 · 已回访 %2 · 未到期 %3</translation>
    </message>
    <message>
        <source>%1 need attention · oldest %2</source>
        <translation>需处理 %1 · 最早 %2</translation>
    </message>
    <message>
        <source>Acceptance %</source>
        <translation>接受率 %</translation>
    </message>
    <message>
        <source>Results mix by month</source>
        <translation>每月结果构成</translation>
    </message>
    <message>
        <source>Results mix by week</source>
        <translation>每周结果构成</translation>
    </message>
    <message>
        <source>Offer</source>
        <translation>推荐</translation>
    </message>
    <message>
        <source>Campaign · wave</source>
        <translation>活动 · 波次</translation>
    </message>
    <message>
        <source>Day</source>
        <translation>日期</translation>
    </message>
    <message>
        <source>Offers presented</source>
        <translation>展示推荐数</translation>
    </message>
    <message>
        <source>Hour</source>
        <translation>小时</translation>
    </message>
    <message>
        <source>Reason</source>
        <translation>原因</translation>
    </message>
    <message>
        <source>Offers suppressed</source>
        <translation>被抑制次数</translation>
    </message>
    <message>
        <source>Code</source>
        <translation>代码</translation>
    </message>
    <message>
        <source>Recorded</source>
        <translation>记录时间</translation>
    </message>
    <message>
        <source>Customer</source>
        <translation>客户</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>结果</translation>
    </message>
    <message>
        <source>Server&apos;s reason</source>
        <translation>服务器给出的原因</translation>
    </message>
    <message>
        <source>Needs attention (%1)</source>
        <translation>需处理（%1）</translation>
    </message>
    <message>
        <source>Export statistics as CSV</source>
        <translation>导出统计为 CSV</translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation>CSV 文件 (*.csv)</translation>
    </message>
    <message>
        <source>Export charts as PNG</source>
        <translation>导出图表为 PNG</translation>
    </message>
    <message>
        <source>PNG images (*.png)</source>
        <translation>PNG 图片 (*.png)</translation>
    </message>
    <message>
        <source>Saved %1</source>
        <translation>已保存 %1</translation>
    </message>
    <message>
        <source>Could not save %1 %2</source>
        <translation>无法保存 %1 %2</translation>
    </message>
</context>
<context>
    <name>SyncBadge</name>
    <message>
        <source>Sync status</source>
        <translation>同步状态</translation>
    </message>
    <message>
        <source>Sync: starting…</source>
        <translation>同步：启动中…</translation>
    </message>
    <message>
        <source>⚠ %1 outcome(s) need attention</source>
        <translation>⚠ %1 条结果需要处理</translation>
    </message>
    <message>
        <source>Not signed in · %1 pending</source>
        <translation>未登录 · %1 条待发送</translation>
    </message>
    <message>
        <source>Not signed in: outcomes are kept on this PC</source>
        <translation>未登录：结果保存在本机</translation>
    </message>
    <message>
        <source>Offline since %1 · %2 pending</source>
        <translation>%1 起离线 · %2 条待同步</translation>
    </message>
    <message>
        <source>%1 pending</source>
        <translation>%1 条待同步</translation>
    </message>
    <message>
        <source>✓ All outcomes synced</source>
        <translation>✓ 营销结果已全部同步</translation>
    </message>
    <message>
        <source>⚠ The local data file is damaged: restart CallCue</source>
        <translation>⚠ 本地数据文件已损坏：请重启 CallCue</translation>
    </message>
    <message>
        <source>⚠ Outcomes not readable — %1</source>
        <translation>⚠ 结果无法读取 — %1</translation>
    </message>
    <message>
        <source>cannot reach the server</source>
        <translation>无法连接服务器</translation>
    </message>
    <message>
        <source>the server does not answer</source>
        <translation>服务器没有应答</translation>
    </message>
    <message>
        <source>the server reports an error</source>
        <translation>服务器报告错误</translation>
    </message>
    <message>
        <source>the server&apos;s answer is unreadable</source>
        <translation>服务器的应答无法读取</translation>
    </message>
    <message>
        <source>the server&apos;s answer is too large</source>
        <translation>服务器的应答过大</translation>
    </message>
    <message>
        <source>the server asks to wait a minute</source>
        <translation>服务器要求稍候一分钟</translation>
    </message>
    <message>
        <source>the server&apos;s certificate is not trusted</source>
        <translation>服务器证书不受信任</translation>
    </message>
    <message>
        <source>sign in again</source>
        <translation>请重新登录</translation>
    </message>
    <message>
        <source>the disk is full</source>
        <translation>磁盘已满</translation>
    </message>
    <message>
        <source>the data folder is read-only</source>
        <translation>数据文件夹只读</translation>
    </message>
    <message>
        <source>the local data file is damaged</source>
        <translation>本地数据文件已损坏</translation>
    </message>
    <message>
        <source>the local data file cannot be used</source>
        <translation>本地数据文件无法使用</translation>
    </message>
    <message>
        <source>sync failed</source>
        <translation>同步失败</translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <source>CallCue agent assistant</source>
        <translation>CallCue 坐席助手</translation>
    </message>
    <message>
        <source>Show panel</source>
        <translation>显示面板</translation>
    </message>
    <message>
        <source>Statistics…</source>
        <translation>统计…</translation>
    </message>
    <message>
        <source>Sign in…</source>
        <translation>登录…</translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation>退出登录</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
</context>
<context>
    <name>UsageTable</name>
    <message>
        <source>Data (GB)</source>
        <translation>流量（GB）</translation>
    </message>
    <message>
        <source>Voice (min)</source>
        <translation>通话（分钟）</translation>
    </message>
    <message>
        <source>SMS / MMS</source>
        <translation>短信 / 彩信</translation>
    </message>
    <message>
        <source>Bill</source>
        <translation>账单</translation>
    </message>
    <message>
        <source>Usage</source>
        <translation>近三月用量</translation>
    </message>
    <message>
        <source>Roaming: %1</source>
        <translation>漫游：%1</translation>
    </message>
    <message>
        <source>%1 min</source>
        <translation>%1 分钟</translation>
    </message>
    <message>
        <source>due %1</source>
        <translation>%1 到期</translation>
    </message>
    <message>
        <source>paid %1</source>
        <translation>已缴 %1</translation>
    </message>
    <message>
        <source>%1 late</source>
        <translation>%1 逾期</translation>
    </message>
    <message>
        <source>%1 unpaid</source>
        <translation>%1 未缴</translation>
    </message>
</context>
</TS>
