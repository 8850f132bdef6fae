/**
 * What the web console's endpoints answer: the sessions, the console users and the run-time
 * settings. The server builds these and the console page reads them, from this one definition.
 */

/** Who may sign in to the web console, and as what. */
export const CONSOLE_ROLES = ['trader', 'admin', 'merchant'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

// Type aliases, not interfaces: the routes' schema-inferred answer types are index-signed.
/** Who is signed in, as `POST /v1/session` and `GET /v1/session` answer. */
export type SessionUser = {
  id: string;
  name: string;
  role: ConsoleRole;
  /** The merchant a merchant user acts for; null for the others. */
  merchant_id: string | null;
  /** The trader's or administrator's account; null for merchant users. */
  account_id: string | null;
};

/** `POST /v1/session`, `GET /v1/session`: the user and what the page needs to call the API. */
export type SessionInfo = {
  user: SessionUser;
  /** Sent as `X-CSRF-Token` with every request but GET, HEAD and OPTIONS. */
  csrf_token: string;
  /** ISO 8601: when the session ends at the latest. */
  expires_at: string;
};

/** A console user as `GET /v1/admin/users` lists it (and the user endpoints answer). */
export type ConsoleUserView = {
  id: string;
  name: string;
  role: ConsoleRole;
  account_id: string | null;
  merchant_id: string | null;
  disabled: boolean;
  /** Epoch ms. */
  created_at: number;
};

/**
 * The settings an administrator may change while the system runs: the timeouts, named by
 * their environment variables.
 */
export const RUNTIME_SETTING_KEYS = ['PAYMENT_TIMEOUT', 'ACCEPT_TIMEOUT', 'TRADER_CHECK_TIMEOUT', 'CARD_TIMEOUT', 'PHOTO_TIMEOUT'] as const;
export type RuntimeSettingKey = (typeof RUNTIME_SETTING_KEYS)[number];

/** A run-time setting as `GET /v1/admin/settings` lists it (seconds; times in epoch ms). */
export type RuntimeSettingView = {
  key: RuntimeSettingKey;
  value: number;
  /** The configuration's value (environment or default): what applies without a stored one. */
  configured: number;
  doc: string;
  changed_at: number | null;
  /** `type:id` of who changed it last (`admin:3`), or null. */
  changed_by: string | null;
};

/** One change, as `POST /v1/admin/settings` answers and `GET /v1/admin/settings/history` lists it. */
export type RuntimeSettingChange = {
  id: string;
  key: RuntimeSettingKey;
  value: number;
  actor_type: string;
  actor_id: string | null;
  /** Epoch ms. */
  at: number;
};

/** One of the signed-in user's sessions, as `GET /v1/sessions` lists them. */
export type ConsoleSessionView = {
  id: string;
  /** ISO 8601, as the other times here. */
  created_at: string;
  /** Updated at most once a minute. */
  last_seen_at: string;
  expires_at: string;
  /** The address it was signed in from. */
  ip: string;
  user_agent: string | null;
  /** True for the session making the request. */
  current: boolean;
};

/**
 * A merchant's public side, as `GET /v1/merchant` and the key rotations (the merchant's own
 * and an administrator's) answer: what its integration needs to encrypt legacy requests.
 */
export type MerchantProfile = {
  id: string;
  name: string;
  /** A sandbox merchant's invoices are served by the simulated trader: test card, no real money. */
  sandbox: boolean;
  /** The current RSA public key, PEM. */
  public_key: string;
};

/** `POST /v1/admin/merchants`: the new merchant with its access token, the only time it is shown. */
export type CreatedMerchant = MerchantProfile & { access_token: string };

/** `POST /v1/admin/merchants/:id/disable` and `…/enable`: the merchant as it now is. */
export type MerchantStateView = MerchantProfile & { disabled: boolean };

/** A merchant as `GET /v1/admin/merchants` lists it. */
export type MerchantRow = {
  id: string;
  name: string;
  sandbox: boolean;
  /** A disabled merchant's token and console users are refused until it is enabled again. */
  disabled: boolean;
  /** Epoch ms. */
  created_at: number;
};

/** `GET /v1/merchant/sandbox`, `POST /v1/merchant/sandbox`: the merchant's own sandbox merchant. */
export type MerchantSandboxView = {
  enabled: boolean;
  /** The sandbox merchant's id; null until it is first switched on. */
  merchant_id: string | null;
  /** Only in the answer that made the sandbox merchant: the one time its token is shown. */
  access_token?: string;
};

/** `POST /v1/merchant/token`, `POST /v1/admin/merchants/:id/token`: a merchant's new access token, shown once. */
export type MerchantTokenView = { access_token: string };

/** `POST /v1/admin/accounts/:id/token`: a trader's or administrator's new API token, shown once. */
export type AccountTokenView = { token: string };

/** `POST /v1/admin/users`: a trader or administrator made with it also gets its API token, shown once. */
export type CreatedConsoleUser = ConsoleUserView & { token?: string };
