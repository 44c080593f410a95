package dingdangsim

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Content types the vendor answers with: "返回类型:HTML" means JSON served as
// text/html; createUpdateN is documented as "返回类型:JSON".
const (
	contentTypeHTML = "text/html; charset=UTF-8"
	contentTypeJSON = "application/json"
)

// The vendor's messages, verbatim from the document's samples (and, for the
// ones the document does not show, from the brief the simulator implements).
const (
	msgOK            = "成功"
	msgFailed        = "失败"
	msgInvalid       = "参数无效"
	msgDuplicate     = "订单号重复"
	msgCancelled     = "取消成功"
	msgNotCancelable = "订单状态不可取消"
	msgBadMobile     = "手机号码填写错误!"
	msgUserExists    = "用户已存在"
	msgNoUser        = "用户不存在"
	msgAdded         = "添加成功"
	msgUpdated       = "更新成功"
	msgBadFormat     = "格式错误"
	msgNoMobile      = "手机号不能为空"
	msgBadLogin      = "用户名或密码错误"
	msgBadTimestamp  = "时间戳错误"
	msgTooManyUsers  = "用户数量已达上限"
)

// envelope is the vendor's answer: code 1 is success; result changes type
// between success and failure ([] vs a string vs an object).
type envelope struct {
	Msg    string `json:"msg"`
	Code   int    `json:"code"`
	Result any    `json:"result"`
}

// response is an envelope and the Content-Type it is served with.
type response struct {
	contentType string
	env         envelope
}

func ok(result any) response { return okMsg(msgOK, result) }

func okMsg(msg string, result any) response {
	return response{contentType: contentTypeHTML, env: envelope{Msg: msg, Code: 1, Result: result}}
}

// fail is a failure whose result is [].
func fail(msg string) response {
	return response{contentType: contentTypeHTML, env: envelope{Msg: msg, Code: 0, Result: []struct{}{}}}
}

// failText is a failure whose result is a string.
func failText(msg, result string) response {
	return response{contentType: contentTypeHTML, env: envelope{Msg: msg, Code: 0, Result: result}}
}

func (resp response) write(w http.ResponseWriter) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The vendor (PHP) does not escape <, > and & in URLs and remarks.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp.env); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", resp.contentType)
	w.WriteHeader(http.StatusOK)
	// Like PHP's json_encode, no trailing newline.
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
