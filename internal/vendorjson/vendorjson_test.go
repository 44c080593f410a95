package vendorjson

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// inner and doc are what the tests decode: a field of each tolerant type,
// and plain ones beside them.
type inner struct {
	Name String `json:"name"`
	N    Int    `json:"n"`
}

type doc struct {
	S     String        `json:"s"`
	I     Int           `json:"i"`
	F     Float         `json:"f"`
	B     Bool          `json:"b"`
	T     UnixTime      `json:"t"`
	M     UnixMillis    `json:"m"`
	O     Object[inner] `json:"o"`
	L     List[inner]   `json:"l"`
	Null  String        `json:"null"`
	Plain string        `json:"plain"`
	Any   any           `json:"any"`
}

func TestDriftTolerance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want doc
	}{
		{"native types", `{"s":"x","i":3,"f":1.5,"b":true,"t":1526278009,"m":1577836800000,"o":{"name":"a"},"l":[{"name":"b"}]}`,
			doc{S: "x", I: 3, F: 1.5, B: true, T: UnixTime{time.Unix(1526278009, 0).UTC(), true},
				M: UnixMillis{time.Unix(1577836800, 0).UTC(), true}, O: Object[inner]{Value: inner{Name: "a"}, Present: true}, L: List[inner]{{Name: "b"}}}},
		{"strings for numbers", `{"s":12,"i":"661","f":"8.00","b":"1","t":"1550282890","m":"1577836800000"}`,
			doc{S: "12", I: 661, F: 8, B: true, T: UnixTime{time.Unix(1550282890, 0).UTC(), true}, M: UnixMillis{time.Unix(1577836800, 0).UTC(), true}}},
		{"empties", `{"s":null,"i":"","f":null,"b":0,"t":"0","m":null,"o":[],"l":{},"null":null}`, doc{}},
		{"failure text instead of object", `{"o":"格式错误","l":"手机号码填写错误!","t":null}`, doc{O: Object[inner]{Text: "格式错误"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got doc
			if err := Decode([]byte(tt.body), &got); err != nil {
				t.Fatal(err)
			}
			if got.S != tt.want.S || got.I != tt.want.I || got.F != tt.want.F || got.B != tt.want.B ||
				got.T != tt.want.T || got.M != tt.want.M || got.O != tt.want.O || len(got.L) != len(tt.want.L) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRejectsNonJSON(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "<html>502 Bad Gateway</html>", "{broken"} {
		var v map[string]any
		if err := Decode([]byte(body), &v); err == nil {
			t.Errorf("Decode(%q): got nil error, want one", body)
		}
	}
	var v map[string]any
	if err := Decode([]byte("{\n“msg”: “成功”,\n“code”: 1\n}"), &v); err != nil || v["msg"] != "成功" {
		t.Errorf("got %v, %v for typographic quotes, want msg 成功", v, err)
	}
	if err := Decode([]byte("\xef\xbb\xbf {\"a\":1}\n"), &v); err != nil {
		t.Errorf("got %v for a BOM-prefixed body, want nil", err)
	}
}

func TestIntRejectsText(t *testing.T) {
	t.Parallel()
	var i Int
	if err := i.UnmarshalJSON([]byte(`"abc"`)); err == nil {
		t.Error("got nil error for \"abc\", want one")
	}
}

// TestDecodeAgreesWithEncodingJSON decodes each document with Decode (the
// JSON v2 engine, the types' UnmarshalJSONFrom) and with encoding/json (their
// UnmarshalJSON): both must give the same value, and fail together.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"s":"x","i":3,"f":1.5,"b":true,"t":1526278009,"m":1577836800000,"o":{"name":"a","n":"2"},"l":[{"name":"b"},{"n":1.0}]}`,
		`{"s":"  padded  ","i":"661","f":"8.00","b":"是","t":"1550282890","m":"1577836800000"}`,
		`{"s":"\u4e2d\"q\" \\ /","plain":"p","any":{"k":[1,"2",null]}}`,
		`{"s":{"nested":1},"i":[1,2],"f":{},"b":[],"t":{},"o":"格式错误","l":"失败"}`,
		`{"s":null,"i":null,"f":null,"b":null,"t":null,"m":null,"o":null,"l":null}`,
		`{"S":"upper","NAME":"ignored","O":{"NAME":"folded"}}`,
		`{"s":"first","s":"second"}`,
		`{"s":false,"i":-7,"f":-1e3,"b":1,"t":"0","m":0}`,
		`{"i":"1.9e2","b":"Yes","o":{"name":12}}`,
		`{"unknown":{"deep":[{"a":1}]},"s":"after"}`,
		`{"i":"abc"}`,
		`{"f":"x"}`,
		`{"o":{"n":"abc"}}`,
		`{"s":"x"} trailing`,
		`{"s":"x",}`,
		`[]`,
		"{\"s\":\"a\xffb\",\"plain\":\"\xc3\"}",
	}
	for _, body := range bodies {
		var got, want doc
		gotErr := Decode([]byte(body), &got)
		wantErr := json.Unmarshal([]byte(body), &want)
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: Decode error %v, encoding/json error %v", body, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n Decode        %#v\n encoding/json %#v", body, got, want)
		}
	}
}
