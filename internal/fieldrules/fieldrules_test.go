package fieldrules_test

import (
	"errors"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

	deliveryv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	logisticsv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	validatev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/validate/v1"
	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
)

// services are every service's file descriptors.
var services = []protoreflect.FileDescriptor{
	deliveryv1.File_vendorgate_delivery_v1_delivery_service_proto,
	esignv1.File_vendorgate_esign_v1_esign_service_proto,
	logisticsv1.File_vendorgate_logistics_v1_billing_service_proto,
	logisticsv1.File_vendorgate_logistics_v1_parcel_service_proto,
	vehiclev1.File_vendorgate_vehicle_v1_vehicle_service_proto,
}

// families are the predefined rules of rules.proto and their bounds.
var families = map[protoreflect.ExtensionType]int{
	validatev1.E_Name:      64,
	validatev1.E_Id:        128,
	validatev1.E_Address:   256,
	validatev1.E_Text:      1024,
	validatev1.E_Multiline: 1024,
	validatev1.E_Url:       2048,
	validatev1.E_Value:     4096,
}

// TestEveryRequestStringIsBoundedAndClean sets every string field of every
// request message (nested messages, repeated elements and map values
// included), in turn, to a value with a NUL, one with U+202E (right-to-left
// override) and one over its length bound, and requires a violation naming
// that field each time. A string field with no bound fails.
func TestEveryRequestStringIsBoundedAndClean(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range services {
		for i := range file.Services().Len() {
			svc := file.Services().Get(i)
			for j := range svc.Methods().Len() {
				in := svc.Methods().Get(j).Input()
				walk(in, nil, map[protoreflect.FullName]bool{}, func(path []protoreflect.FieldDescriptor) {
					name := pathName(path)
					t.Run(string(svc.Methods().Get(j).FullName())+"/"+name, func(t *testing.T) {
						checkField(t, v, in, path)
					})
				})
			}
		}
	}
}

// walk calls visit with the path of every string field reachable from md.
func walk(md protoreflect.MessageDescriptor, prefix []protoreflect.FieldDescriptor, seen map[protoreflect.FullName]bool, visit func([]protoreflect.FieldDescriptor)) {
	if seen[md.FullName()] || strings.HasPrefix(string(md.FullName()), "google.") {
		return
	}
	seen[md.FullName()] = true
	defer delete(seen, md.FullName())
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		path := append(append([]protoreflect.FieldDescriptor(nil), prefix...), fd)
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.StringKind {
				visit(path)
			}
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				walk(fd.MapValue().Message(), path, seen, visit)
			}
		case fd.Kind() == protoreflect.StringKind:
			visit(path)
		case fd.Kind() == protoreflect.MessageKind:
			walk(fd.Message(), path, seen, visit)
		}
	}
}

func pathName(path []protoreflect.FieldDescriptor) string {
	parts := make([]string, len(path))
	for i, fd := range path {
		parts[i] = string(fd.Name())
	}
	return strings.Join(parts, ".")
}

// bound is the field's length bound from its rules, or -1 when it has none.
func bound(fd protoreflect.FieldDescriptor) int {
	rules, ok := proto.GetExtension(fd.Options(), validatepb.E_Field).(*validatepb.FieldRules)
	if !ok || rules == nil {
		return -1
	}
	var s *validatepb.StringRules
	switch {
	case rules.GetString() != nil:
		s = rules.GetString()
	case rules.GetMap().GetValues().GetString() != nil:
		s = rules.GetMap().GetValues().GetString()
	case rules.GetRepeated().GetItems().GetString() != nil:
		s = rules.GetRepeated().GetItems().GetString()
	default:
		return -1
	}
	limit := -1
	if s.HasMaxLen() {
		limit = int(s.GetMaxLen())
	}
	if s.HasLen() {
		limit = int(s.GetLen())
	}
	for ext, n := range families {
		if proto.GetExtension(s, ext).(bool) && (limit < 0 || n < limit) {
			limit = n
		}
	}
	if limit < 0 && (len(s.GetIn()) > 0 || s.HasConst()) {
		return 1 << 16 // a closed set: any long value is outside it
	}
	return limit
}

func checkField(t *testing.T, v protovalidate.Validator, md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor) {
	t.Helper()
	leaf := path[len(path)-1]
	limit := bound(leaf)
	if limit < 0 {
		t.Fatalf("%s (%s) has no length bound: give it a family of vendorgate.validate.v1 (name, id, address, text, multiline, url, value) or max_len with clean", pathName(path), leaf.FullName())
	}
	values := map[string]string{
		"NUL":            "ab\x00cd",
		"U+202E":         "ab\u202ecd",
		"over its bound": strings.Repeat("a", limit+1),
	}
	for what, value := range values {
		msg := dynamicpb.NewMessage(md)
		set(msg, path, value)
		err := v.Validate(msg)
		var verr *protovalidate.ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("%s (%s) %s: got %v, want a violation", pathName(path), leaf.FullName(), what, err)
			continue
		}
		found := false
		for _, viol := range verr.Violations {
			if fieldPath(viol) == pathName(path) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s (%s) %s: no violation names the field (got %v)", pathName(path), leaf.FullName(), what, err)
		}
	}
}

// fieldPath is a violation's field path without subscripts, e.g.
// "receiver.name" for receiver.name or parameter_map["k"].
func fieldPath(v *protovalidate.Violation) string {
	var parts []string
	for _, e := range v.Proto.GetField().GetElements() {
		parts = append(parts, e.GetFieldName())
	}
	return strings.Join(parts, ".")
}

// set sets the field at path in msg to value, creating what lies between.
func set(msg protoreflect.Message, path []protoreflect.FieldDescriptor, value string) {
	fd := path[0]
	if len(path) == 1 {
		switch {
		case fd.IsMap():
			msg.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString(value))
		case fd.IsList():
			msg.Mutable(fd).List().Append(protoreflect.ValueOfString(value))
		default:
			msg.Set(fd, protoreflect.ValueOfString(value))
		}
		return
	}
	switch {
	case fd.IsMap():
		child := msg.Mutable(fd).Map().NewValue()
		set(child.Message(), path[1:], value)
		msg.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), child)
	case fd.IsList():
		list := msg.Mutable(fd).List()
		child := list.NewElement()
		set(child.Message(), path[1:], value)
		list.Append(child)
	default:
		set(msg.Mutable(fd).Message(), path[1:], value)
	}
}
