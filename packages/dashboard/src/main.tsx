/**
 * @module main
 * The dashboard's shell: sign-in with an API key, a hash router (#/sandboxes, #/sandboxes/ID,
 * #/images, #/admin), and a heartbeat that signs the user out as soon as the key stops working (revoked).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, currentKey, onSignOut, signIn, signOut } from './api.js';
import { AdminPage } from './admin.js';
import { ImagesPage } from './images.js';
import { SandboxPage } from './sandbox-page.js';
import { SandboxesPage } from './sandboxes.js';

const HEARTBEAT_MS = 2000;

function SignIn({ done }: { done: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    signIn(key.trim());
    try {
      await call('GET', '/v1/pools');
      done();
    } catch {
      setError('That key is not valid.');
    }
  };
  return (
    <form class="signin" onSubmit={(e) => void submit(e)}>
      <h1>Airlock</h1>
      <label>
        API key
        <input id="api-key" type="password" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
      </label>
      <button id="sign-in" type="submit">
        Sign in
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '') || '/sandboxes';
}

function App() {
  const [signedIn, setSignedIn] = useState(currentKey() !== null);
  const route = useRoute();
  useEffect(() => onSignOut(() => setSignedIn(false)), []);
  useEffect(() => {
    if (!signedIn) return;
    // Any call that answers 401 signs out; this one makes sure one happens every HEARTBEAT_MS.
    const t = setInterval(() => void call('GET', '/v1/pools').catch(() => {}), HEARTBEAT_MS);
    return () => clearInterval(t);
  }, [signedIn]);
  if (!signedIn) return <SignIn done={() => setSignedIn(true)} />;
  const sandbox = /^\/sandboxes\/([A-Za-z0-9_-]+)$/.exec(route)?.[1];
  return (
    <>
      <nav>
        <strong>Airlock</strong>
        <a href="#/sandboxes">Sandboxes</a>
        <a href="#/images">Images and pools</a>
        <a href="#/admin">Projects, keys, audit</a>
        <button id="sign-out" onClick={signOut}>
          Sign out
        </button>
      </nav>
      <main>{sandbox ? <SandboxPage id={sandbox} /> : route === '/images' ? <ImagesPage /> : route === '/admin' ? <AdminPage /> : <SandboxesPage />}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
