// The integration guide's request bodies (docs/integration-guide.md, the user's spec), verbatim,
// as the API description's examples. test/http/openapi.test.ts checks they are still the
// guide's and that each is valid against its route's body schema.

export interface GuideExample {
  readonly summary: string;
  readonly value: Readonly<Record<string, unknown>>;
}

/** By operationId: the guide's body for that route. */
export const GUIDE_EXAMPLES: Readonly<Record<string, GuideExample>> = {
  createCall: {
    summary: 'Create Call Record (When Call Starts), from the integration guide',
    value: {
      agentId: 'agent_12345',
      userId: 'user_67890',
      orgId: 'org_abc123',
      callSid: 'CA-unique-call-id-from-phone-system',
      direction: 'inbound',
      callerNumber: '+1234567890',
      callerName: 'John Doe',
      status: 'in-progress',
      startedAt: '2025-01-17T10:30:00Z',
    },
  },
  updateCallStatus: {
    summary: 'Update Call Status (When Call Ends), from the integration guide',
    value: {
      status: 'completed',
      duration: 245,
      recordingUrl: 'https://s3.amazonaws.com/recordings/call-123.mp3',
      transcript: 'Agent: Hello, thank you for calling...\nCaller: Hi, I need help with...',
      sentiment: 'positive',
      topics: ['support', 'billing'],
      summary: 'Customer called about billing issue, successfully resolved',
      collectedData: {
        name: 'John Smith',
        email: 'john@example.com',
        accountNumber: 'ACC-12345',
      },
      cost: 0.15,
    },
  },
  callStartedWebhook: {
    summary: 'Call Started Webhook, from the integration guide',
    value: {
      callSid: 'CA-unique-call-id',
      agentId: 'agent_12345',
      direction: 'inbound',
      callerNumber: '+1234567890',
    },
  },
  callCompletedWebhook: {
    summary: 'Call Completed Webhook, from the integration guide',
    value: {
      callSid: 'CA-unique-call-id',
      duration: 245,
      recordingUrl: 'https://...',
      transcript: 'Full text...',
      sentiment: 'positive',
      summary: 'Customer asked about pricing',
    },
  },
};
