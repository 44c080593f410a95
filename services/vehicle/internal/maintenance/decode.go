package maintenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// The vendor's codes. code is "0" on every answer that carries data; the
// codes of a refusal are in the document's 返回码定义 tables.
const (
	codeOK           = "0"
	codeServiceError = "-1"    // 服务或其它异常
	codeVINMissing   = "20704" // 车架号不能为空
	codeOrderMissing = "20804" // 订单号不能为空

	resultOK        = "1"    // data.result: bought / report ready
	resultNoRecords = "2"    // data.result: no records
	codeReady       = "1205" // detail.resultCode: 已出报告
	codeNoRecords   = "1206" // detail.resultCode: 无维修保养记录
)

// envelope is every answer: {"code","message","data":{"result",
// "description","detail"}}. A refusal has no data, and "result": {} beside
// code instead.
type envelope struct {
	Code    vendorjson.String       `json:"code"`
	Message vendorjson.String       `json:"message"`
	Data    vendorjson.Object[data] `json:"data"`
}

type data struct {
	Result      vendorjson.String `json:"result"`
	Description vendorjson.String `json:"description"`
	Detail      json.RawMessage   `json:"detail"`
}

// detailHead is the part of detail that both endpoints send.
type detailHead struct {
	// ResultCode is a number in one sample (1200) and a string in the other ("1205").
	ResultCode vendorjson.String `json:"resultCode"`
	ResultMsg  vendorjson.String `json:"resultMsg"`
}

// orderDetail is maintenance/order's detail.
type orderDetail struct {
	detailHead
	OrderID vendorjson.String `json:"orderId"`
}

// Order is a bought report order.
type Order struct {
	// ID is the vendor's order id, for Report (vendor: orderId).
	ID string
	// Message is the vendor's confirmation, e.g. "购买成功" (vendor: resultMsg).
	Message string
}

// State is where an order's report stands.
type State int

// The report states.
const (
	// StatePending means the vendor is still preparing the report.
	StatePending State = iota + 1
	// StateReady means the report is ready.
	StateReady
	// StateNoRecords means the vendor has no records for the vehicle: a
	// normal, paid-for answer.
	StateNoRecords
)

// String returns the state's name as the proto and the store spell it.
func (s State) String() string {
	switch s {
	case StatePending:
		return "PENDING"
	case StateReady:
		return "READY"
	case StateNoRecords:
		return "NO_RECORDS"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Result is maintenance_report/get's answer.
type Result struct {
	// State says whether the report is ready.
	State State
	// Code is the vendor's result code as text, e.g. "1205" (vendor:
	// detail.resultCode, or data.result when that is missing).
	Code string
	// Message is the vendor's text for the state, e.g. "已出报告" (vendor:
	// detail.resultMsg, or data.description).
	Message string
	// Report is the report when State is StateReady, nil otherwise.
	Report *Report
	// Body is the whole answer as sent, to store and decode again with
	// DecodeResult.
	Body []byte
}

// DecodeOrder decodes maintenance/order's answer. A refusal is a
// *vendorerr.Error; an answer that confirms no order id is a plain error
// (the vendor call layer makes it VENDOR_UNAVAILABLE).
func DecodeOrder(body []byte) (Order, error) {
	d, err := decodeEnvelope(PathOrder, body)
	if err != nil {
		return Order{}, err
	}
	var detail orderDetail
	if len(d.Detail) > 0 {
		if err := vendorjson.Decode(d.Detail, &detail); err != nil {
			return Order{}, fmt.Errorf("order detail: %w", err)
		}
	}
	if string(d.Result) != resultOK {
		return Order{}, refusal(PathOrder, firstOf(string(detail.ResultCode), string(d.Result)),
			firstOf(string(detail.ResultMsg), string(d.Description)))
	}
	if detail.OrderID == "" {
		return Order{}, errors.New("purchase confirmed without an orderId")
	}
	return Order{ID: string(detail.OrderID), Message: string(detail.ResultMsg)}, nil
}

// DecodeResult decodes maintenance_report/get's answer, or a stored copy of
// it. resultCode 1205 (or, without a resultCode, result "1") is a ready
// report, 1206 (or result "2") no records, and any other code a report still
// being prepared.
func DecodeResult(body []byte) (Result, error) {
	d, err := decodeEnvelope(PathReport, body)
	if err != nil {
		return Result{}, err
	}
	var head detailHead
	if len(d.Detail) > 0 {
		if err := vendorjson.Decode(d.Detail, &head); err != nil {
			return Result{}, fmt.Errorf("report detail: %w", err)
		}
	}
	res := Result{
		State:   StatePending,
		Code:    firstOf(string(head.ResultCode), string(d.Result)),
		Message: firstOf(string(head.ResultMsg), string(d.Description)),
		Body:    body,
	}
	switch {
	case head.ResultCode == codeReady, head.ResultCode == "" && d.Result == resultOK:
		res.State = StateReady
		if res.Report, err = decodeReport(d.Detail); err != nil {
			return Result{}, err
		}
	case head.ResultCode == codeNoRecords, head.ResultCode == "" && d.Result == resultNoRecords:
		res.State = StateNoRecords
	}
	return res, nil
}

// decodeEnvelope checks code and returns data, or the refusal.
func decodeEnvelope(path string, body []byte) (data, error) {
	var env envelope
	if err := vendorjson.Decode(body, &env); err != nil {
		return data{}, err
	}
	if env.Code != codeOK {
		if env.Code == "" && !env.Data.Present {
			return data{}, errors.New("answer has neither code nor data")
		}
		if env.Code != "" {
			return data{}, refusal(path, string(env.Code), string(env.Message))
		}
	}
	if !env.Data.Present {
		return data{}, errors.New("successful answer without data")
	}
	return env.Data.Value, nil
}

// refusal classifies a vendor code: a missing required parameter is the
// caller's invalid argument, -1 the vendor's own failure, anything else a
// refusal.
func refusal(path, code, msg string) error {
	kind := vendorerr.KindRefused
	switch code {
	case codeVINMissing, codeOrderMissing:
		kind = vendorerr.KindInvalidArgument
	case codeServiceError:
		kind = vendorerr.KindUnavailable
	}
	return &vendorerr.Error{Kind: kind, Vendor: Vendor, Endpoint: path, Code: code, Message: msg}
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// dateLayouts are the forms a vendor date has been seen in, or might be.
var dateLayouts = []string{"2006-01-02", "2006-1-2", "2006/01/02", "2006/1/2", "2006.01.02", "20060102", "2006-01-02 15:04:05", time.RFC3339}

// date normalises a vendor date to "YYYY-MM-DD"; "" when it is missing or
// in no known form (the raw report keeps the text).
func date(s vendorjson.String) string {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, string(s)); err == nil {
			return t.Format(time.DateOnly)
		}
	}
	return ""
}
