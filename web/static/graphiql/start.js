// Starts GraphiQL against this server's /graphql. The header editor is where an API token or a
// signIn token goes: {"Authorization": "Bearer ..."}.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultQuery: "# Yuelu GraphQL\n{\n  version\n}\n",
    }),
    document.getElementById("graphiql")
  );
})();
