package contracts

import "context"

// The signers' calls: accounts, certificates and seals. Each is one call
// to Fadada; only ApplyCertificate has a rule for an interrupted attempt.

// RegisterAccount registers a signer and returns their customer_id. The
// vendor gives the same customer for the same open_id, so a repeat is
// harmless.
func (s *Service) RegisterAccount(ctx context.Context, openID string, t AccountType) (string, error) {
	return s.v.RegisterAccount(ctx, openID, t)
}

// ApplyCertificate applies for a signer's certificate, once.
func (s *Service) ApplyCertificate(ctx context.Context, customerID, verifiedSerialNo string) error {
	return s.v.ApplyCert(ctx, customerID, verifiedSerialNo)
}

// ResumeApplyCertificate resumes an ApplyCertificate whose earlier attempt
// may have reached Fadada: it is sent again, and Fadada's refusal of a
// second application (Vendor.CertApplied) is the earlier attempt's
// success; any other answer is the answer.
func (s *Service) ResumeApplyCertificate(ctx context.Context, customerID, verifiedSerialNo string) error {
	err := s.v.ApplyCert(ctx, customerID, verifiedSerialNo)
	if s.v.CertApplied(err) {
		return nil
	}
	return err
}

// AddSignature adds a seal image to a signer and returns its
// signature_id, once.
func (s *Service) AddSignature(ctx context.Context, customerID string, image []byte) (string, error) {
	return s.v.AddSignature(ctx, customerID, image)
}

// CustomSignature draws a seal from content and returns its image.
func (s *Service) CustomSignature(ctx context.Context, customerID, content string) ([]byte, error) {
	return s.v.CustomSignature(ctx, customerID, content)
}

// PersonCertification is a person's real-name verification.
func (s *Service) PersonCertification(ctx context.Context, verifiedSerialNo string) (Certification, error) {
	return s.v.PersonCertInfo(ctx, verifiedSerialNo)
}

// CompanyCertification is a company's real-name verification.
func (s *Service) CompanyCertification(ctx context.Context, verifiedSerialNo string) (Certification, error) {
	return s.v.CompanyCertInfo(ctx, verifiedSerialNo)
}

// GetFile streams a file Fadada keeps (a verification's photo, say) to
// consume.
func (s *Service) GetFile(ctx context.Context, uuid string, consume FileConsumer) error {
	return s.v.GetFile(ctx, uuid, consume)
}
