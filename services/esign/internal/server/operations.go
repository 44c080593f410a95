package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/internal/pagetoken"
	"github.com/vendorgate/vendorgate/services/esign/internal/contracts"
)

// The RPC names the request_id records and the reconciler know methods by.
const (
	MethodUploadContract   = "UploadContract"
	MethodGenerateContract = "GenerateContract"
	MethodArchiveContract  = "ArchiveContract"
)

// DefaultAbsentGrace is Options.AbsentGrace's default: long enough for an
// upload the gateway gave up on to land at Fadada all the same.
const DefaultAbsentGrace = 2 * time.Minute

// Page sizes of ListUnresolvedOperations.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// operationsCursor is ListUnresolvedOperations' page token.
type operationsCursor struct {
	CreatedAt int64  `json:"t"`
	RequestID string `json:"r"`
}

// ListUnresolvedOperations implements EsignServiceServer: the request_id
// records whose outcome is unknown, from the store only.
func (s *Server) ListUnresolvedOperations(ctx context.Context, req *esignv1.ListUnresolvedOperationsRequest) (*esignv1.ListUnresolvedOperationsResponse, error) {
	var c operationsCursor
	if err := pagetoken.Decode(req.GetPageToken(), &c); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	after := idempotency.Cursor{RequestID: c.RequestID}
	if c.CreatedAt != 0 {
		after.CreatedAt = time.UnixMilli(c.CreatedAt).UTC()
	}
	ops, err := s.ids.ListUnresolved(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &esignv1.ListUnresolvedOperationsResponse{}
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		resp.NextPageToken = pagetoken.Encode(operationsCursor{CreatedAt: last.CreatedAt.UnixMilli(), RequestID: last.RequestID})
	}
	for _, op := range ops {
		resp.Operations = append(resp.Operations, operation(op))
	}
	return resp, nil
}

// ResolveOperation implements EsignServiceServer: the operator's finding,
// recorded under their caller name.
func (s *Server) ResolveOperation(ctx context.Context, req *esignv1.ResolveOperationRequest) (*esignv1.ResolveOperationResponse, error) {
	outcome := idempotency.Applied
	if req.GetOutcome() == esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED {
		outcome = idempotency.NotApplied
	}
	by := auth.CallerFrom(ctx)
	if by == "" {
		by = "operator"
	}
	op, err := s.ids.Resolve(ctx, req.GetRequestId(), outcome, nil, by, req.GetNote())
	if err != nil {
		return nil, err
	}
	return &esignv1.ResolveOperationResponse{Operation: operation(op)}, nil
}

// operation maps a request_id record to the contract.
func operation(op idempotency.Operation) *esignv1.Operation {
	out := &esignv1.Operation{
		RequestId: op.RequestID, Method: op.Method, ContractId: contractID(op), Note: op.Note,
		CreateTime: timestamppb.New(op.CreatedAt),
	}
	switch {
	case op.Unresolved():
		out.State = esignv1.OperationState_OPERATION_STATE_UNKNOWN
	case op.Outcome() == idempotency.Applied:
		out.State = esignv1.OperationState_OPERATION_STATE_APPLIED
	case op.Outcome() == idempotency.NotApplied:
		out.State = esignv1.OperationState_OPERATION_STATE_NOT_APPLIED
	}
	for _, r := range op.Resolutions {
		res := &esignv1.Resolution{Note: r.Note, ResolveTime: timestamppb.New(r.At), ResolvedBy: r.By,
			Outcome: esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED}
		if r.Outcome == idempotency.NotApplied {
			res.Outcome = esignv1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED
		}
		out.Resolutions = append(out.Resolutions, res)
	}
	return out
}

// contractID is the contract_id of an operation's kept request, or "".
func contractID(op idempotency.Operation) string {
	switch op.Method {
	case MethodUploadContract:
		u, err := contracts.DecodeUpload(op.Request)
		if err != nil {
			return ""
		}
		return u.ContractID
	case MethodGenerateContract:
		var req esignv1.GenerateContractRequest
		if proto.Unmarshal(op.Request, &req) != nil {
			return ""
		}
		return req.GetContractId()
	case MethodArchiveContract:
		var req esignv1.ArchiveContractRequest
		if proto.Unmarshal(op.Request, &req) != nil {
			return ""
		}
		return req.GetContractId()
	}
	return ""
}

// Checkers are the reconciler's reads of Fadada, per RPC whose outcome
// Fadada can tell without a send: an upload (the contract's bytes against
// the upload's SHA-256) and a generation (the contract's existence). The
// others wait for a repeat of their request_id or an operator:
// ApplyCertificate and ArchiveContract are resolved by re-sending them
// (their duplicate answers), which is no read; UploadTemplate and
// AddSignature have no read at all.
func (s *Server) Checkers() map[string]idempotency.Checker {
	return map[string]idempotency.Checker{
		MethodUploadContract:   s.checkUpload,
		MethodGenerateContract: s.checkGenerate,
	}
}

func (s *Server) checkUpload(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	u, err := contracts.DecodeUpload(op.Request)
	if err != nil {
		return idempotency.Finding{}, err
	}
	c, err := s.contracts.CheckUpload(ctx, u)
	if err != nil {
		return idempotency.Finding{}, err
	}
	switch {
	case c.Matches():
		return idempotency.Finding{Outcome: idempotency.Applied, Response: &esignv1.UploadContractResponse{ContractId: u.ContractID},
			Note: fmt.Sprintf("Fadada holds contract %s with the upload's SHA-256 %s (%d bytes)", u.ContractID, c.SHA256, c.Size)}, nil
	case c.Exists:
		err := c.Mismatch(u)
		s.log.Error("Fadada holds an uploaded contract with other bytes than the upload: resolved NOT_APPLIED",
			"request_id", op.RequestID, "contract_id", u.ContractID, "sha256", u.SHA256, "vendor_sha256", c.SHA256, "vendor_size", c.Size)
		return idempotency.Finding{Outcome: idempotency.NotApplied, Note: contracts.ReasonContentMismatch + ": " + err.Error()}, nil
	}
	return s.absent(op, u.ContractID), nil
}

func (s *Server) checkGenerate(ctx context.Context, op idempotency.Operation) (idempotency.Finding, error) {
	var req esignv1.GenerateContractRequest
	if err := proto.Unmarshal(op.Request, &req); err != nil {
		return idempotency.Finding{}, fmt.Errorf("kept GenerateContract request: %w", err)
	}
	exists, err := s.contracts.ContractExists(ctx, req.GetContractId())
	if err != nil {
		return idempotency.Finding{}, err
	}
	if exists {
		// No recorded response: a repeat signs fresh links (Attempt.Applied).
		return idempotency.Finding{Outcome: idempotency.Applied, Note: "Fadada holds contract " + req.GetContractId()}, nil
	}
	return s.absent(op, req.GetContractId()), nil
}

// absent is the finding for a contract Fadada does not have: not applied
// once the operation is older than the grace, since a call the gateway
// gave up on may still land; until then, not known yet.
func (s *Server) absent(op idempotency.Operation, contractID string) idempotency.Finding {
	if s.now().Sub(op.CreatedAt) < s.opts.AbsentGrace {
		return idempotency.Finding{}
	}
	return idempotency.Finding{Outcome: idempotency.NotApplied,
		Note: fmt.Sprintf("Fadada has no contract %s %s after the call", contractID, s.opts.AbsentGrace)}
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}
