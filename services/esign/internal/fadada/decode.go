package fadada

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// envelope is every JSON reply's outer object. code is a number in some
// replies (1, 3100) and a string in others ("1000", "2002"); result is
// present in some only.
type envelope struct {
	// Code is the vendor's code as text.
	Code vendorjson.String `json:"code"`
	// Msg is the vendor's message, often Chinese.
	Msg string `json:"msg"`
	// Result is "success" or "error" where the endpoint sends it.
	Result string `json:"result"`
	// Data is the payload, when there is one.
	Data json.RawMessage `json:"data"`
	// DownloadURL is generate_contract's download link.
	DownloadURL string `json:"download_url"`
	// ViewPDFURL is generate_contract's view link.
	ViewPDFURL string `json:"viewpdf_url"`
}

// The envelope's values that mean success.
const (
	// resultSuccess is result's success; its failure is "error".
	resultSuccess = "success"
	// codeOK and codeOperationOK are the success codes of the replies
	// without a result (1 success, 1000 操作成功).
	codeOK          = "1"
	codeOperationOK = "1000"
	// codeRepeated is the vendor's "success, repeated request".
	codeRepeated = "2"
)

// success reports whether the reply is a success: result "success", or no
// result and a success code.
func (e envelope) success() bool {
	switch e.Result {
	case resultSuccess:
		return true
	case "":
		return e.Code == codeOK || e.Code == codeOperationOK || e.Code == codeRepeated
	default:
		return false
	}
}

// decode decodes a reply of endpoint: on success it unmarshals data into
// out (when out is not nil and data is not null); otherwise it returns the
// vendor's refusal as a *vendorerr.Error classified by Classify. A reply
// it cannot read is a plain error, which the call layer makes
// VENDOR_RESPONSE_UNREADABLE for a read and OUTCOME_UNKNOWN for a
// mutation (the vendor may well have applied it).
func decode(endpoint string, body []byte, out any) (envelope, error) {
	var env envelope
	if err := vendorjson.Decode(body, &env); err != nil {
		return env, fmt.Errorf("unreadable reply: %w", err)
	}
	if !env.success() {
		return env, Refusal(endpoint, string(env.Code), env.Msg)
	}
	if out != nil && len(env.Data) > 0 && !bytes.Equal(env.Data, []byte("null")) {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return env, fmt.Errorf("unreadable data: %w", err)
		}
	}
	return env, nil
}

// ConfigVars names the configuration to check when Fadada rejects our app
// id, digest or IP (codes 1001, 1002, 1003, 1005).
const ConfigVars = "FADADA_APP_ID, FADADA_APP_SECRET"

// Refusal is the vendor error for a failure code and message.
func Refusal(endpoint, code, msg string) *vendorerr.Error {
	e := &vendorerr.Error{Kind: Classify(code, msg), Vendor: Vendor, Endpoint: endpoint, Code: code, Message: msg}
	if e.Kind == vendorerr.KindAuth {
		e.Config = ConfigVars
	}
	return e
}

// codeKinds classifies the codes of the raw document's 返回码定义 table by
// their meaning there.
var codeKinds = map[string]vendorerr.Kind{
	"-1": vendorerr.KindUnavailable, // 抱歉,暂时无法处理您的请求: unknown exception
	"1":  vendorerr.KindRefused,     // error (with result "error"): failed, sometimes with a reason
	// Our configuration: public parameters, app id, digest, IP whitelist.
	"1001": vendorerr.KindAuth,            // 公共参数非法
	"1002": vendorerr.KindAuth,            // app_id不存在或未启动
	"1003": vendorerr.KindAuth,            // msg_digest无效
	"1004": vendorerr.KindInvalidArgument, // 请求参数非法
	"1005": vendorerr.KindAuth,            // 未绑定IP白名单
	"1006": vendorerr.KindThrottled,       // 请求频繁
	// Signing records.
	"1201": vendorerr.KindNotFound, "1202": vendorerr.KindRefused, "1203": vendorerr.KindRefused,
	"1204": vendorerr.KindRefused, "1205": vendorerr.KindRefused,
	// Real-name verification: 1302 尚未实名认证 is "not yet certified".
	"1301": vendorerr.KindRefused, "1302": vendorerr.KindRefused, "1303": vendorerr.KindRefused,
	"1304": vendorerr.KindRefused, "1305": vendorerr.KindRefused,
	// Contract state.
	"1401": vendorerr.KindNotFound, "1402": vendorerr.KindRefused, "1403": vendorerr.KindRefused,
	"1404": vendorerr.KindRefused, "1405": vendorerr.KindRefused, "1406": vendorerr.KindRefused,
	"1409": vendorerr.KindAlreadyExists,
	"1501": vendorerr.KindInvalidArgument, "1502": vendorerr.KindRefused, "1504": vendorerr.KindRefused,
	"1505": vendorerr.KindRefused, "1506": vendorerr.KindInvalidArgument, "1507": vendorerr.KindUnavailable,
	"1509": vendorerr.KindAlreadyExists, // 交易号重复
	"1511": vendorerr.KindAlreadyExists, // 签署成功,请勿重复请求
	// Customers and seals: 1601 客户编号无效 is "no such customer".
	"1601": vendorerr.KindNotFound, "1602": vendorerr.KindNotFound, "1603": vendorerr.KindUnavailable,
	"1604": vendorerr.KindInvalidArgument, "1605": vendorerr.KindInvalidArgument,
	"1607": vendorerr.KindInvalidArgument, "1608": vendorerr.KindNotFound,
	"1609": vendorerr.KindInvalidArgument, "1610": vendorerr.KindRefused, "1611": vendorerr.KindInvalidArgument,
	// Contract ids.
	"1801": vendorerr.KindInvalidArgument, "1802": vendorerr.KindNotFound, "1803": vendorerr.KindNotFound,
	"1804": vendorerr.KindInvalidArgument,
	"1903": vendorerr.KindInvalidArgument, "1904": vendorerr.KindInvalidArgument,
	// Templates: 2507 模板号重复 and 2510 合同id重复 are duplicates.
	"2501": vendorerr.KindInvalidArgument, "2502": vendorerr.KindNotFound, "2503": vendorerr.KindNotFound,
	"2504": vendorerr.KindInvalidArgument, "2505": vendorerr.KindRefused, "2506": vendorerr.KindUnavailable,
	"2507": vendorerr.KindAlreadyExists, "2508": vendorerr.KindUnavailable, "2509": vendorerr.KindNotFound,
	"2510": vendorerr.KindAlreadyExists,
	// 3100 账号类型非法 (account type invalid), in the samples.
	"3100": vendorerr.KindInvalidArgument,
	// Certificates: 3201 不能重复申请证书 is "already applied".
	"3201": vendorerr.KindAlreadyExists, "3202": vendorerr.KindInvalidArgument, "3203": vendorerr.KindRefused,
	"3204": vendorerr.KindInvalidArgument, "3205": vendorerr.KindRefused, "3206": vendorerr.KindRefused,
}

// Classify is the kind of a failure code. The table's meanings decide;
// 2001 and 2002 are generic errors whose message says what happened
// (samples: "合同编号不能为空." a missing parameter, "对不起,没有检索到模板文件!"
// an unknown template, "文件类型错误" a bad file), so their message decides.
// 4001–4003 are not defined in the raw document: they are refusals
// (FAILED_PRECONDITION) with the vendor's message; any other unknown code is
// KindUnknown.
func Classify(code, msg string) vendorerr.Kind {
	if k, ok := codeKinds[code]; ok {
		return k
	}
	switch code {
	case "2001", "2002":
		switch {
		case containsAny(msg, "没有检索到", "不存在", "未找到", "无效"):
			return vendorerr.KindNotFound
		case containsAny(msg, "重复", "已存在"):
			return vendorerr.KindAlreadyExists
		case containsAny(msg, "实名", "认证"):
			return vendorerr.KindRefused
		default:
			return vendorerr.KindInvalidArgument
		}
	case "4001", "4002", "4003":
		return vendorerr.KindRefused
	}
	return vendorerr.KindUnknown
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
