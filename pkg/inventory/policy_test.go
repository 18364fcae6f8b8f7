package inventory

import (
	"net/url"
	"slices"
	"testing"
)

func TestActionMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, action string
		want            bool
	}{
		{"ssm:UpdateInstanceInformation", "ssm:UpdateInstanceInformation", true},
		{"SSM:updateinstanceinformation", "ssm:UpdateInstanceInformation", true},
		{"ssm:*", "ssm:UpdateInstanceInformation", true},
		{"*", "ec2messages:GetMessages", true},
		{"ssm:Update*", "ssm:UpdateInstanceInformation", true},
		{"ssm:Update*Information", "ssm:UpdateInstanceInformation", true},
		{"ssm:Get*", "ssm:UpdateInstanceInformation", false},
		{"ssmmessages:*", "ssm:UpdateInstanceInformation", false},
		{"ssm*:*", "ssmmessages:OpenDataChannel", true},
		{"ec2messages:?etMessages", "ec2messages:GetMessages", true},
		{"ssm:", "ssm:UpdateInstanceInformation", false},
	} {
		if got := actionMatches(c.pattern, c.action); got != c.want {
			t.Errorf("actionMatches(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}

func mustParse(t *testing.T, doc string) *policyDoc {
	t.Helper()
	d, err := parsePolicy(url.QueryEscape(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEvaluate(t *testing.T) {
	allowAll := `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
	for _, c := range []struct {
		name   string
		docs   []string
		action string
		want   bool
	}{
		{"single statement object", []string{allowAll}, "ssm:UpdateInstanceInformation", true},
		{"no statement matches", []string{`{"Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"*"}]}`}, "ssm:UpdateInstanceInformation", false},
		{"explicit deny in another policy wins", []string{allowAll, `{"Statement":[{"Effect":"Deny","Action":"ssm:*","Resource":"*"}]}`}, "ssm:UpdateInstanceInformation", false},
		{"conditional deny does not deny", []string{allowAll, `{"Statement":[{"Effect":"Deny","Action":"ssm:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`}, "ssm:UpdateInstanceInformation", true},
		{"NotAction allow", []string{`{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`}, "ssmmessages:OpenDataChannel", true},
		{"NotAction excludes", []string{`{"Statement":[{"Effect":"Allow","NotAction":["ssm*:*"],"Resource":"*"}]}`}, "ssmmessages:OpenDataChannel", false},
		{"conditional allow counts", []string{`{"Statement":[{"Effect":"Allow","Action":"ssm:UpdateInstanceInformation","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}}}]}`}, "ssm:UpdateInstanceInformation", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var docs []*policyDoc
			for _, d := range c.docs {
				docs = append(docs, mustParse(t, d))
			}
			if got := evaluate(docs, c.action); got != c.want {
				t.Errorf("evaluate(%s) = %v, want %v", c.action, got, c.want)
			}
		})
	}
}

func TestTrustedServices(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","ssm.amazonaws.com"]},"Action":"sts:AssumeRole"},
		{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:TagSession"},
		{"Effect":"Deny","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"},
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`)
	if got := trustedServices(d); !slices.Equal(got, []string{"ec2.amazonaws.com", "ssm.amazonaws.com"}) {
		t.Errorf("trustedServices = %v", got)
	}
}

func TestParsePolicyRejectsGarbage(t *testing.T) {
	if _, err := parsePolicy("%7Bnot json"); err == nil {
		t.Error("want an error for a broken document")
	}
}

func TestParseDHMC(t *testing.T) {
	for v, want := range map[string]string{"$None": "", "": "", "MyRole": "MyRole", "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole": "AWSSystemsManagerDefaultEC2InstanceManagementRole"} {
		if got := parseDHMC(v).RoleName; got != want {
			t.Errorf("parseDHMC(%q).RoleName = %q, want %q", v, got, want)
		}
	}
}
