import Mustache

/// The web pages' templates (swift-mustache; `{{x}}` escapes HTML). No script at all: a
/// running job's page reloads itself every few seconds.
enum HubTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        try library.register(head, named: "head")
        try library.register(jobs, named: "jobs")
        try library.register(job, named: "job")
        try library.register(login, named: "login")
        try library.register(message, named: "message")
        return library
    }

    static let head = """
        <!doctype html><html><head><meta charset="utf-8">{{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}
        <title>{{title}} · construir hub</title>
        <style>body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:40em;white-space:pre-wrap}.passed{color:#070}.failed,.error,.disputed,.timed_out,.rejected,.killed{color:#a00}form.inline{display:inline}nav{margin-bottom:1em}</style>
        </head><body><nav><a href="/jobs">jobs</a> · <a href="/">hub</a> · {{#user}}{{user}} <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button>log out</button></form>{{/user}}{{^user}}<a href="/login">log in</a>{{/user}}</nav>

        """

    static let jobs = """
        {{> head}}<h1>Jobs</h1>
        <form method="get" action="/jobs">state <select name="state"><option value="">any</option>{{#states}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/states}}</select>
        status <select name="status"><option value="">any</option>{{#statuses}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/statuses}}</select>
        name starts with <input name="prefix" value="{{prefix}}"> <button>show</button></form>
        <table><tr><th>job</th><th>state</th><th>status</th><th>submitter</th><th>queued</th><th>finished</th><th>runners</th><th>attempts</th><th>replicas in</th></tr>
        {{#jobs}}<tr><td><a href="/jobs/{{id}}">{{job}}</a></td><td>{{state}}{{#stopping}} (stopping){{/stopping}}</td><td class="{{status}}">{{status}}</td><td>{{submitter}}</td><td>{{queued}}</td><td>{{finished}}</td><td>{{runners}}</td><td>{{attempts}}</td><td>{{results}} of {{replicas}}</td></tr>
        {{/jobs}}</table>
        {{^jobs}}<p>No jobs.</p>{{/jobs}}{{#next}}<p><a href="{{next}}">older jobs</a></p>{{/next}}
        </body></html>

        """

    static let job = """
        {{> head}}<h1>{{name}}</h1>
        <table>{{#rows}}<tr><th>{{label}}</th><td class="{{style}}">{{value}}</td></tr>{{/rows}}</table>
        {{#canStop}}<form method="post" action="/jobs/{{id}}/stop"><input type="hidden" name="csrf" value="{{csrf}}"><p><button>stop this job</button></p></form>{{/canStop}}
        {{#hasStages}}<h2>Stages</h2><table><tr><th>stage</th><th>what it did</th></tr>{{#stages}}<tr><td>{{name}}</td><td>{{summary}}</td></tr>{{/stages}}</table>{{/hasStages}}
        {{#hasReplicas}}<h2>Replicas</h2><table><tr><th>runner</th><th>status</th><th>exit code</th><th>output digest</th></tr>{{#replicas}}<tr><td>{{runner}}</td><td>{{status}}</td><td>{{exitCode}}</td><td>{{digest}}</td></tr>{{/replicas}}</table>{{/hasReplicas}}
        <h2>Console</h2>{{#consoleNote}}<p>{{consoleNote}}</p>{{/consoleNote}}<pre>{{console}}</pre>
        {{#hasOutput}}<h2>Output</h2><p><a href="/jobs/{{id}}/output">output.tar.xz</a></p><ul>{{#files}}<li><a href="/jobs/{{id}}/file/{{href}}">{{path}}</a> ({{size}} bytes)</li>{{/files}}</ul>{{#filesNote}}<p>{{filesNote}}</p>{{/filesNote}}{{/hasOutput}}
        </body></html>

        """

    static let login = """
        {{> head}}<h1>Log in</h1>{{#error}}<p class="error">{{error}}</p>{{/error}}
        <form method="post" action="/login"><p>Paste your submitter token (<code>construir hub token add NAME --role submitter</code> made it):</p>
        <p><input type="password" name="token" size="80" autocomplete="off"> <button>log in</button></p></form>
        </body></html>

        """

    static let message = """
        {{> head}}<h1>{{title}}</h1><p>{{text}}</p></body></html>

        """
}
