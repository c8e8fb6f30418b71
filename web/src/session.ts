// Who the dashboard acts as, for every page: the API client carrying the credential, the
// server's configuration and the controls to leave. Set by the sign-in gate (auth.tsx, or
// clerk.tsx with Clerk) once someone may see the calls.
import { createContext, useContext, type ReactNode } from 'react';
import type { Api } from './api';

/** What the server tells the app before anyone signs in (src/http/web.plugin.ts). */
export interface DashboardConfig {
  devMode: boolean;
  /** Sign in with Clerk; without it, outside dev mode, with an organization API key. */
  clerkPublishableKey?: string;
}

export interface Session {
  readonly api: Api;
  readonly config: DashboardConfig;
  /** The header's account controls: a sign-out button, Clerk's user and organization menus. */
  readonly account: ReactNode;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a sign-in gate');
  return session;
}

export const useApi = (): Api => useSession().api;
