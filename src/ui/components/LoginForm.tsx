import { useRef, useState } from 'react'
import { Box, Text, useApp, useInput } from 'ink'
import { LineInput } from './LineInput.js'

export interface LoginValues {
  server: string
  user: string
  password: string
  register: boolean
}

export interface LoginFormProps {
  /** Values known already (flags, saved login); the form starts at the first missing one. */
  initial: Partial<LoginValues>
  /** Tries to log in (or register); a rejection's message is shown under the form. */
  onSubmit: (values: LoginValues) => Promise<void>
  /** Called when the person gives up (Esc or Ctrl-C). */
  onCancel: () => void
}

type Field = 'server' | 'user' | 'password'
const FIELDS: Field[] = ['server', 'user', 'password']
const LABEL: Record<Field, string> = { server: 'Server', user: 'Username', password: 'Password' }

/** The login screen: server, username and a masked password; Ctrl-R switches to registering. */
export function LoginForm ({ initial, onSubmit, onCancel }: LoginFormProps): React.JSX.Element {
  const { exit } = useApp()
  const [values, setValuesState] = useState<Record<Field, string>>({ server: initial.server ?? '', user: initial.user ?? '', password: initial.password ?? '' })
  // keys can outrun renders: submit reads the latest values, not the last render's
  const latest = useRef(values)
  const setValues = (change: (old: Record<Field, string>) => Record<Field, string>): void => {
    latest.current = change(latest.current)
    setValuesState(latest.current)
  }
  const [register, setRegister] = useState(initial.register ?? false)
  const [field, setFieldState] = useState<Field>(FIELDS.find(f => (initial[f] ?? '') === '') ?? 'password')
  // which input takes keys is decided at each key, from this ref, not at the next render
  const fieldRef = useRef(field)
  // (moved after the key that caused it, so the same key is not taken by the next input too)
  const setField = (f: Field): void => { queueMicrotask(() => { fieldRef.current = f; setFieldState(f) }) }
  const busyRef = useRef(false)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  useInput((input, key) => {
    if (busyRef.current) return
    if (key.escape || (key.ctrl && input === 'c')) { onCancel(); exit(); return }
    if (key.ctrl && input === 'r') { setRegister(r => !r); return }
    const i = FIELDS.indexOf(fieldRef.current)
    if (key.upArrow || (key.tab && key.shift)) setField(FIELDS[(i + FIELDS.length - 1) % FIELDS.length]!)
    else if (key.downArrow || key.tab) setField(FIELDS[(i + 1) % FIELDS.length]!)
  })

  const submit = (): void => {
    const values = latest.current
    const missing = FIELDS.find(f => values[f].trim() === '')
    if (missing != null) {
      setField(missing)
      setError(`${LABEL[missing].toLowerCase()} is missing`)
      return
    }
    setBusy(true)
    busyRef.current = true
    setError(null)
    onSubmit({ server: values.server.trim(), user: values.user.trim(), password: values.password, register })
      .then(() => { exit() })
      .catch((err: unknown) => {
        setBusy(false)
        busyRef.current = false
        setError((err as Error).message.split('\n')[0] ?? 'failed')
        setValues(v => ({ ...v, password: '' }))
        setField('password')
      })
  }

  return (
    <Box flexDirection='column' borderStyle='round' borderColor='cyan' paddingX={1} width={72}>
      <Text bold>meshchat — {register ? 'create an account' : 'log in'}</Text>
      {FIELDS.map(f => (
        <Box key={f}>
          <Text color={field === f ? 'cyan' : undefined}>{field === f ? '› ' : '  '}{LABEL[f].padEnd(10)}</Text>
          <LineInput
            value={values[f]}
            onChange={v => { setValues(old => ({ ...old, [f]: v })) }}
            onSubmit={line => {
              // text and Enter may come in one chunk: the submitted line is the field's value
              setValues(old => ({ ...old, [f]: line }))
              const next = FIELDS[FIELDS.indexOf(f) + 1]
              if (next != null && latest.current[next] === '') setField(next)
              else submit()
            }}
            focus={field === f && !busy}
            takesKeys={() => fieldRef.current === f && !busyRef.current}
            {...(f === 'password' ? { mask: '•' } : {})}
            placeholder={f === 'server' ? '/ip4/…/tcp/4001/p2p/… or host:port' : ''}
          />
        </Box>
      ))}
      {error != null && <Text color='red'>{error}</Text>}
      <Text dimColor>{busy ? 'working…' : `Enter to ${register ? 'register' : 'log in'} · Ctrl-R to ${register ? 'log in instead' : 'register instead'} · Esc to quit`}</Text>
    </Box>
  )
}
