package serve

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Every service's messages, and the shared ones, in the registry.
	_ "github.com/vendorgate/vendorgate/gen/go/vendorgate/delivery/v1"
	_ "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	_ "github.com/vendorgate/vendorgate/gen/go/vendorgate/logistics/v1"
	_ "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	_ "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
)

// TestEveryMessagesRulesCompile holds the request validator, built against
// an empty file registry (newRequestValidator), to what protovalidate.New
// builds against every linked file: for every message of vendorgate's
// protos, empty and with every field set (nested messages too, three
// levels deep), both compile its rules and give the same answer. A rule
// that reached a type the validator does not register on its own would
// fail to compile in the first.
func TestEveryMessagesRulesCompile(t *testing.T) {
	if requestValidatorErr != nil {
		t.Fatal(requestValidatorErr)
	}
	full, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	var checked []string
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "vendorgate.") {
			return true
		}
		eachMessage(f.Messages(), func(md protoreflect.MessageDescriptor) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				t.Errorf("%s: %v", md.FullName(), err)
				return
			}
			for _, m := range []proto.Message{mt.New().Interface(), filled(mt.New(), 3).Interface()} {
				got, want := requestValidator.Validate(m), full.Validate(m)
				if compileErr := new(protovalidate.CompilationError); errors.As(got, &compileErr) {
					t.Errorf("%s: its rules do not compile: %v", md.FullName(), got)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s %v: validator says %v, one with every file registered says %v", md.FullName(), m, got, want)
				}
			}
			checked = append(checked, string(md.FullName()))
		})
		return true
	})
	// The registry holds what was linked in: the services' requests must
	// be among what was checked.
	for _, name := range []string{
		"vendorgate.delivery.v1.CreateOrderRequest",
		"vendorgate.esign.v1.GenerateContractRequest",
		"vendorgate.logistics.v1.CreateParcelOrderRequest",
		"vendorgate.vehicle.v1.OrderReportRequest",
	} {
		if !slices.Contains(checked, name) {
			t.Errorf("%s was not checked (%d messages were)", name, len(checked))
		}
	}
}

// eachMessage calls fn for each of ms and of the messages nested in them,
// map entries aside.
func eachMessage(ms protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range ms.Len() {
		md := ms.Get(i)
		if md.IsMapEntry() {
			continue
		}
		fn(md)
		eachMessage(md.Messages(), fn)
	}
}

// filled is m with every field set to a value that is not its zero (a
// oneof's last field wins), messages down to depth levels.
func filled(m protoreflect.Message, depth int) protoreflect.Message {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			if v, ok := fieldValue(m.NewField(fd).List().NewElement(), fd, depth); ok {
				m.Mutable(fd).List().Append(v)
			}
		case fd.IsMap():
			k, kok := fieldValue(protoreflect.Value{}, fd.MapKey(), depth)
			v, vok := fieldValue(m.NewField(fd).Map().NewValue(), fd.MapValue(), depth)
			if kok && vok {
				m.Mutable(fd).Map().Set(k.MapKey(), v)
			}
		default:
			if v, ok := fieldValue(m.NewField(fd), fd, depth); ok {
				m.Set(fd, v)
			}
		}
	}
	return m
}

// fieldValue is a value of fd's kind that is not its zero; fresh is a new
// value of fd's type, used for messages. ok is false for a message at
// depth 0.
func fieldValue(fresh protoreflect.Value, fd protoreflect.FieldDescriptor, depth int) (protoreflect.Value, bool) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true), true
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		return protoreflect.ValueOfEnum(values.Get(values.Len() - 1).Number()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(7), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(7), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(7), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(7), true
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(7), true
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(7), true
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x7"), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x7")), true
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if depth == 0 {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfMessage(filled(fresh.Message(), depth-1)), true
	}
	return protoreflect.Value{}, false
}
