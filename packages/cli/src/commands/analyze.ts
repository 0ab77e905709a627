import { analyzeSwitch, toRow } from '@hitless/iommufd/analysis/analyze-switch'
import { renderSwitchMarkdown } from '@hitless/iommufd/analysis/render-markdown'
import type { CommandContext } from '../command.js'
import { usage } from '../cli-error.js'
import { print } from '../output.js'

/**
 * `hitless analyze switch [--output table|json] [--markdown]`: the hitless-switch analysis, run
 * locally on the emulator (no controller). `--markdown` prints docs/hitless-switch.md.
 */
export async function analyzeCommand(c: CommandContext): Promise<void> {
  const [what] = c.args
  if (what !== 'switch') throw usage(`analyze: unknown subject ${what ?? '(none)'} (try: analyze switch)`)
  const rows = analyzeSwitch()
  if (c.options.markdown) {
    process.stdout.write(renderSwitchMarkdown(rows))
    return
  }
  print(
    c.output,
    rows.map(toRow),
    rows.map((r) => ({
      hardware: r.hardware,
      method: r.method,
      interleavings: r.interleavings,
      groundTruth: r.faults.groundTruth,
      recorded: r.faults.recorded,
      lost: r.faults.lost,
      hitless: r.hitless ? 'yes' : 'no',
    })),
  )
}
